"""The KQL subset of the Log Analytics simulator, without a server: each
construct over one fixed data set (query -> expected rows, as the query API
renders them), the refusals with their line and column, and the semantic
errors. The tables go through azuresim_la's schema logic (load_table), so
the column types are the ones the API serves."""

import pytest

from azuresim_kql import KqlSyntaxError
from azuresim_kql_eval import KqlSemanticError, execute, parse_datetime, to_wire
from azuresim_la import load_table

WS = "0b1c2d3e-0000-4000-8000-00000000beef"
T0 = "2026-12-05T10:00:"
CL = "ContainerAppConsoleLogs_CL"


def cl_row(sec, job, group, container, stream, text, **extra):
    row = {"TimeGenerated": "%s%02d.0000000Z" % (T0, sec) if sec < 60 else
           "2026-12-05T10:%02d:%02d.0000000Z" % (sec // 60, sec % 60),
           "ContainerJobName_s": job, "ContainerGroupName_s": group,
           "ContainerName_s": container, "Stream_s": stream, "Log_s": text}
    row.update(extra)
    return row


DATA = {
    CL: [
        cl_row(0, "job-a", "job-a-x1y2z-abcde", "main", "stdout", "hello world"),
        cl_row(1, "job-a", "job-a-x1y2z-abcde", "main", "stderr", "Error: disk full",
               Code_d=28.0),
        cl_row(2, "job-a", "job-a-q9w8e-fghij", "main", "stdout", "second execution"),
        cl_row(3, "job-b", "job-b-aaaaa-bbbbb", "init", "stdout", 'it\'s "quoted"'),
        cl_row(60, "job-b", "job-b-aaaaa-bbbbb", "main", "stdout", "Contains HELLO upper"),
        cl_row(4, "", "album-api--rev1-5d8f", "album-api", "stdout", "listening on 3500",
               ContainerAppName_s="album-api", RevisionName_s="album-api--rev1"),
    ],
    "ContainerAppConsoleLogs": [
        {"TimeGenerated": T0 + "05.5000000Z", "JobName": "job-c",
         "ContainerGroupName": "job-c-exec1-r1", "ContainerName": "main", "Stream": "stdout",
         "Log": "new schema line"},
    ],
}
NOW = parse_datetime("2026-12-05T10:10:00Z")


def run(query, data=None, span=None):
    data = DATA if data is None else data

    def resolve(name):
        if name in data:
            return load_table(name, data[name], WS, span)
        if name == "ContainerAppConsoleLogs":
            return load_table(name, [], WS, span)
        return None
    return to_wire(execute(query, resolve, NOW))


def rows(query):
    return run(query)["rows"]


A = CL + " | where ContainerJobName_s == 'job-a' "
CASES = [
    # where, project, string comparisons
    (A + "| project Log_s", [["hello world"], ["Error: disk full"], ["second execution"]]),
    (A + "| where Log_s has 'disk' | project Stream_s", [["stderr"]]),
    (A + "| where Log_s has 'dis' | project Stream_s", []),
    (A + "| where Log_s !has 'disk' | count", [[2]]),
    (A + "| where Log_s has_cs 'Error' | count", [[1]]),
    (CL + " | where Log_s contains 'HELLO' | project Log_s",
     [["hello world"], ["Contains HELLO upper"]]),
    (CL + " | where Log_s contains_cs 'HELLO' | project Log_s", [["Contains HELLO upper"]]),
    (A + "| where Log_s !contains 'HELLO' | project Log_s",
     [["Error: disk full"], ["second execution"]]),
    (CL + " | where ContainerGroupName_s startswith 'JOB-A-X1Y2Z' | count", [[2]]),
    (CL + " | where ContainerGroupName_s startswith_cs 'JOB-A' | count", [[0]]),
    (A + "| where ContainerGroupName_s !startswith 'job-a-x1y2z' | project Log_s",
     [["second execution"]]),
    (CL + " | where ContainerGroupName_s endswith '-bbbbb' | distinct ContainerName_s",
     [["init"], ["main"]]),
    (CL + " | where ContainerJobName_s =~ 'JOB-B' | count", [[2]]),
    (CL + " | where ContainerJobName_s !~ 'JOB-B' | count", [[4]]),
    (CL + " | where ContainerJobName_s != 'job-a' | count", [[3]]),
    (CL + " | where ContainerJobName_s in ('job-a', 'job-b') | distinct ContainerJobName_s",
     [["job-a"], ["job-b"]]),
    (CL + " | where ContainerJobName_s !in ('job-a', 'job-b') | project ContainerAppName_s",
     [["album-api"]]),
    (CL + " | where ContainerJobName_s in~ ('JOB-B') | count", [[2]]),
    (CL + " | where ContainerGroupName_s matches regex '^job-b-[a-z]+-' | count", [[2]]),
    (CL + " | where isempty(ContainerAppName_s) | count", [[5]]),
    (CL + " | where isnotempty(ContainerAppName_s) | project RevisionName_s",
     [["album-api--rev1"]]),
    (CL + " | where isnotnull(Code_d) | project Code_d", [[28.0]]),
    (CL + " | where isnull(Code_d) | count", [[5]]),
    (A + "| where not(Stream_s == 'stdout') | project Log_s", [["Error: disk full"]]),
    (CL + " | where ContainerJobName_s == 'job-a' and Stream_s == 'stderr' or "
     "ContainerName_s == 'init' | count", [[2]]),
    (CL + " | where ContainerJobName_s == 'job-a' and (Stream_s == 'stderr' or "
     "ContainerName_s == 'init') | count", [[1]]),
    # literals: strings, verbatim, bracketed names, comments, numbers, bools
    (CL + " | where Log_s == \"it's \\\"quoted\\\"\" | count", [[1]]),
    (CL + " | where Log_s == 'it\\'s \"quoted\"' | count", [[1]]),
    (CL + " | where ['Log_s'] == @'hello world' | project [\"Stream_s\"]", [["stdout"]]),
    (CL + " // all rows\n| where Stream_s == 'stderr' // the error\n| count", [[1]]),
    (CL + " | where Code_d > 1.5 and true | project x = Code_d * 2", [[56.0]]),
    (CL + " | where Stream_s == 'stderr' | project a = 7 / 2, b = 7 % 2, c = -3 + 1",
     [[3, 1, -2]]),
    # datetimes and timespans
    (CL + " | where TimeGenerated >= datetime(2026-12-05T10:00:02Z) and "
     "TimeGenerated < datetime(2026-12-05 10:00:04) | project Log_s",
     [["second execution"], ['it\'s "quoted"']]),
    (CL + " | where TimeGenerated > datetime(2026-12-05T10:00:59.9999999Z) | project Log_s",
     [["Contains HELLO upper"]]),
    (CL + " | where TimeGenerated > datetime('2026-12-05T11:00:00+01:00') | count", [[5]]),
    (CL + " | where TimeGenerated > ago(570s) | project Log_s", [["Contains HELLO upper"]]),
    (CL + " | where TimeGenerated > ago(1d) | count", [[6]]),
    (CL + " | where Stream_s == 'stderr' | project d = now() - TimeGenerated, "
     "t = TimeGenerated + 1h, u = TimeGenerated - 100ms",
     [["00:09:59", "2026-12-05T11:00:01.0000000Z", "2026-12-05T10:00:00.9000000Z"]]),
    (CL + " | where Stream_s == 'stderr' | project r = 1d / 1h, m = 2 * 5m, "
     "s = tostring(TimeGenerated), dt = todatetime('2026-12-05')",
     [[24.0, "00:10:00", "2026-12-05T10:00:01.0000000Z", "2026-12-05T00:00:00.0000000Z"]]),
    (CL + " | where TimeGenerated between (datetime(2026-12-05T10:00:01Z) .. "
     "datetime(2026-12-05T10:00:02Z)) | project Log_s",
     [["Error: disk full"], ["second execution"]]),
    (CL + " | where TimeGenerated between (datetime(2026-12-05T10:00:03Z) .. 1s) "
     "| project Log_s", [['it\'s "quoted"'], ["listening on 3500"]]),
    (CL + " | where TimeGenerated !between (datetime(2026-12-05T10:00:00Z) .. 4s) "
     "| project Log_s", [["Contains HELLO upper"]]),
    (CL + " | where Code_d between (1 .. 28) | count", [[1]]),
    (CL + " | where todatetime(Log_s) > ago(1h) | count", [[0]]),
    (CL + " | summarize n = count() by bin(TimeGenerated, 1m) | order by TimeGenerated asc",
     [["2026-12-05T10:00:00.0000000Z", 5], ["2026-12-05T10:01:00.0000000Z", 1]]),
    # functions
    (A + "| where Stream_s == 'stderr' | project c = coalesce(ContainerAppName_s, "
     "ContainerJobName_s), s = strcat(ContainerJobName_s, '/', ContainerName_s, '/', 1)",
     [["job-a", "job-a/main/1"]]),
    (A + "| take 1 | project tostring(Code_d), strlen(Log_s), toupper(Stream_s)",
     [["", 11, "STDOUT"]]),
    (A + "| take 1 | project x = iif(Stream_s == 'stdout', 'o', 'e'), tolong('42')",
     [["o", 42]]),
    ("union isfuzzy=true " + CL + ", ContainerAppConsoleLogs | where ContainerGroupName_s "
     "startswith 'job-a-x1y2z' or ContainerGroupName startswith 'job-c-exec1' | project "
     "Log = coalesce(column_ifexists('Log_s', ''), Log), S = column_ifexists('Stream', "
     "'none') | order by Log asc", [["Error: disk full", ""], ["hello world", ""],
                                    ["new schema line", "stdout"]]),
    ("ContainerAppConsoleLogs | project L = column_ifexists('Log_s', 'absent'), "
     "N = column_ifexists('Nope', 0)", [["absent", 0]]),
    # project, project-away, project-rename, extend
    (A + "| where Stream_s == 'stderr' | project Time = TimeGenerated, Message = Log_s",
     [["2026-12-05T10:00:01.0000000Z", "Error: disk full"]]),
    (A + "| where Stream_s == 'stderr' | project-away TimeGenerated, TenantId, SourceSystem, "
     "Computer, RawData, Type, _ResourceId, ContainerAppName_s, ContainerGroupId_g, "
     "ContainerId_s, ContainerImage_s, EnvironmentName_s, RevisionName_s, _timestamp_d, "
     "ContainerGroupName_s, Code_d",
     [["job-a", "main", "Error: disk full", "stderr"]]),
    (A + "| where Stream_s == 'stderr' | project Log_s, Stream_s | project-rename "
     "Message = Log_s", [["Error: disk full", "stderr"]]),
    (A + "| where Stream_s == 'stderr' | project Log_s | extend n = strlen(Log_s), "
     "Log_s = toupper(Log_s)", [["ERROR: DISK FULL", 16]]),
    # order by, take, top
    (CL + " | order by TimeGenerated desc | take 2 | project Log_s",
     [["Contains HELLO upper"], ["listening on 3500"]]),
    (CL + " | sort by ContainerJobName_s asc, TimeGenerated desc | project Log_s",
     [["listening on 3500"], ["second execution"], ["Error: disk full"], ["hello world"],
      ["Contains HELLO upper"], ['it\'s "quoted"']]),
    (CL + " | order by Code_d desc | take 2 | project Code_d", [[28.0], [None]]),
    (CL + " | order by Code_d asc | take 2 | project Code_d", [[None], [None]]),
    (CL + " | order by Code_d asc nulls last | take 1 | project Code_d", [[28.0]]),
    (CL + " | limit 1 | project Log_s", [["hello world"]]),
    (CL + " | top 2 by TimeGenerated asc | project Log_s",
     [["hello world"], ["Error: disk full"]]),
    (CL + " | top 1 by TimeGenerated | project Log_s", [["Contains HELLO upper"]]),
    # summarize, distinct, count
    (CL + " | summarize count() by Stream_s", [["stdout", 5], ["stderr", 1]]),
    (CL + " | summarize last = max(TimeGenerated), first = min(TimeGenerated) by "
     "ContainerJobName_s | where ContainerJobName_s == 'job-b'",
     [["job-b", "2026-12-05T10:01:00.0000000Z", "2026-12-05T10:00:03.0000000Z"]]),
    (CL + " | summarize n = count(), e = countif(Stream_s == 'stderr'), max(Code_d)",
     [[6, 1, 28.0]]),
    (CL + " | where ContainerJobName_s == 'none' | summarize count(), max(TimeGenerated)",
     [[0, None]]),
    (CL + " | distinct ContainerJobName_s, ContainerName_s | order by ContainerJobName_s asc, "
     "ContainerName_s asc", [["", "album-api"], ["job-a", "main"], ["job-b", "init"],
                             ["job-b", "main"]]),
    # let
    ("let job = 'job-b'; let since = datetime(2026-12-05T10:00:30Z);\n" + CL +
     " | where ContainerJobName_s == job and TimeGenerated > since | project Log_s",
     [["Contains HELLO upper"]]),
    ("let Lines = " + CL + " | where Stream_s == 'stderr';\nLines | project Log_s",
     [["Error: disk full"]]),
    # union
    ("union isfuzzy=true (" + CL + " | where ContainerJobName_s == 'job-a' | project "
     "TimeGenerated, Log = Log_s), (ContainerAppConsoleLogs | project TimeGenerated, Log) | "
     "order by TimeGenerated asc | project Log",
     [["hello world"], ["Error: disk full"], ["second execution"], ["new schema line"]]),
    ("union isfuzzy=true (Nope_CL | project Log_s), (" + CL +
     " | where Stream_s == 'stderr' | project Log_s)", [["Error: disk full"]]),
    ("union isfuzzy=true Nope_CL, ContainerAppConsoleLogs | project Log", [["new schema line"]]),
    ("union withsource=Src ContainerAppConsoleLogs, (" + CL + " | where Stream_s == 'stderr')"
     " | project Src, Log, Log_s", [["ContainerAppConsoleLogs", "new schema line", ""],
                                    ["union_arg1", "", "Error: disk full"]]),
    (CL + " | where Stream_s == 'stderr' | project Log_s | union (ContainerAppConsoleLogs | "
     "project Log_s = Log)", [["Error: disk full"], ["new schema line"]]),
    # the queries Microsoft documents for Container Apps logs
    (CL + " | where ContainerAppName_s == 'album-api' | project Time=TimeGenerated, "
     "AppName=ContainerAppName_s, Revision=RevisionName_s, Container=ContainerName_s, "
     "Message=Log_s | take 100",
     [["2026-12-05T10:00:04.0000000Z", "album-api", "album-api--rev1", "album-api",
       "listening on 3500"]]),
    (CL + " | where ContainerGroupName_s startswith 'job-a-x1y2z' | order by _timestamp_d asc"
     " | project Log_s", [["hello world"], ["Error: disk full"]]),
    (CL + " | where ContainerJobName_s == 'job-b' | project ContainerGroupName_s, Log_s, "
     "TimeGenerated | order by TimeGenerated desc | limit 5",
     [["job-b-aaaaa-bbbbb", "Contains HELLO upper", "2026-12-05T10:01:00.0000000Z"],
      ["job-b-aaaaa-bbbbb", 'it\'s "quoted"', "2026-12-05T10:00:03.0000000Z"]]),
]


@pytest.mark.parametrize("query,expected", [c for c in CASES if c[1] != "refused"])
def test_query(query, expected):
    assert rows(query) == expected


def test_columns_and_types():
    answer = run(CL + " | where Stream_s == 'stderr' | project TimeGenerated, Log_s, Code_d, "
                 "n = strlen(Log_s), ok = true, d = 1h, j = ContainerJobName_s")
    assert answer["name"] == "PrimaryResult"
    assert answer["columns"] == [
        {"name": "TimeGenerated", "type": "datetime"}, {"name": "Log_s", "type": "string"},
        {"name": "Code_d", "type": "real"}, {"name": "n", "type": "long"},
        {"name": "ok", "type": "bool"}, {"name": "d", "type": "timespan"},
        {"name": "j", "type": "string"}]
    assert answer["rows"] == [["2026-12-05T10:00:01.0000000Z", "Error: disk full", 28.0, 16,
                               True, "01:00:00", "job-a"]]


def test_column_ifexists_types():
    answer = run("ContainerAppConsoleLogs | project L = column_ifexists('Log_s', 'absent'), "
                 "N = column_ifexists('Nope', 0), T = column_ifexists('TimeGenerated', now())")
    assert answer["columns"] == [{"name": "L", "type": "string"}, {"name": "N", "type": "long"},
                                 {"name": "T", "type": "datetime"}]


def test_dynamic_as_json_text():
    data = {"Events_CL": [{"TimeGenerated": T0 + "00Z", "Props": {"a": [1, 2]}}]}
    answer = run("Events_CL | project Props", data)
    assert answer["columns"] == [{"name": "Props", "type": "dynamic"}]
    assert answer["rows"] == [['{"a":[1,2]}']]


def test_union_types_conflict_renames():
    data = {"A_CL": [{"TimeGenerated": T0 + "00Z", "X": "s"}],
            "B_CL": [{"TimeGenerated": T0 + "01Z", "X": 5}]}
    answer = run("union A_CL, B_CL | project-away TenantId, SourceSystem, Computer, RawData, "
                 "_ResourceId, Type, TimeGenerated", data)
    assert [c["name"] for c in answer["columns"]] == ["X_string", "X_long"]
    assert answer["rows"] == [["s", None], ["", 5]]


def test_timespan_restricts_time_generated():
    span = (parse_datetime(T0 + "01Z"), parse_datetime(T0 + "03Z"))
    assert run(CL + " | project Log_s", span=span)["rows"] == \
        [["Error: disk full"], ["second execution"]]


REFUSALS = [
    # query, token, line, col
    (CL + " | join (X) on a", "join", 1, 29),
    (CL + "\n| where Log_s ==", "<EOF>", 2, 16),
    (CL + " | where Log_s = 'x'", "=", 1, 41),
    (CL + " | where Log_s == 'open", "'", 1, 44),
    (CL + "\n| where Log_s has_any ('a')", "has_any", 2, 14),
    (CL + " | project Log_s.foo", ".", 1, 42),
    (CL + " | where strlenx(Log_s) > 1", "strlenx", 1, 35),
    (CL + " | where Log_s == 'a\\qb'", "\\", 1, 46),
    (CL + " | take 1.5", "1.5", 1, 34),
    (CL + " | summarize foo()", "foo", 1, 39),
    (CL + " | where TimeGenerated > datetime(yesterday)", "yesterday", 1, 60),
    (CL + " | where TimeGenerated > ago(5x)", "x", 1, 56),
    ("union kind=inner " + CL, "inner", 1, 11),
    (CL + " | where TimeGenerated between_x", "between_x", 1, 49),
    (CL + " | where TimeGenerated between (ago(1h), now())", ",", 1, 65),
    (CL + " | where TimeGenerated !has_any (ago(1h))", "!has_any", 1, 49),
    (CL + " | where max(Code_d) > 1", "max", 1, 35),
    (CL + " | project column_ifexists(Log_s, '')", "column_ifexists", 1, 37),
    (CL + " | project *", "*", 1, 37),
    (CL + " | where Log_s matches regex '('", "matches", 1, 41),
    ("", "<EOF>", 1, 0),
    (CL + " | count | ", "<EOF>", 1, 37),
    (CL + "; " + CL, CL, 1, 28),
]


@pytest.mark.parametrize("query,token,line,col", REFUSALS)
def test_refused_with_line_and_column(query, token, line, col):
    with pytest.raises(KqlSyntaxError) as info:
        run(query)
    exc = info.value
    assert (exc.text, exc.line, exc.col) == (token, line, col), exc.reason
    assert str(exc) == "Query could not be parsed at '%s' on line [%d,%d]" % (token, line, col)


SEMANTIC = [
    (CL + " | where Foo == 1", "'where' operator: Failed to resolve scalar expression named 'Foo'"),
    ("Nope_CL | where Log_s == 'x'",
     "'where' operator: Failed to resolve table or column expression named 'Nope_CL'"),
    ("union (Nope_CL | project Log_s), (" + CL + " | project Log_s)",
     "'project' operator: Failed to resolve table or column expression named 'Nope_CL'"),
    ("union Nope_CL, " + CL,
     "'union' operator: Failed to resolve table or column expression named 'Nope_CL'"),
    ("union isfuzzy=true Nope_CL, Other_CL",
     "'union' operator: Failed to resolve table or column expression named 'Nope_CL'"),
    (CL + " | where Code_d == 'x'", "'where' operator: Cannot compare values of types real and "
     "string. Try adding explicit casts"),
    (CL + " | where TimeGenerated > '2026-12-05'", "'where' operator: Cannot compare values of "
     "types datetime and string. Try adding explicit casts"),
    (CL + " | where Code_d has 'x'", "'where' operator: the 'has' operator compares strings, "
     "not real and string"),
    (CL + " | project Log_s | order by TimeGenerated",
     "'order' operator: Failed to resolve scalar expression named 'TimeGenerated'"),
    (CL + " | where Log_s", "'where' operator: the predicate must be a bool, not string"),
    (CL + " | project-away Nope", "'project-away' operator: Failed to resolve scalar expression "
     "named 'Nope'"),
    (CL + " | extend x = TimeGenerated + 5", "'extend' operator: arithmetic '+' is not defined "
     "for datetime and long"),
    (CL + " | where Log_s between ('a' .. 'b')", "'where' operator: between needs numbers, "
     "datetimes or timespans, not string"),
    (CL + " | where Code_d between (ago(1h) .. now())", "'where' operator: Cannot compare values "
     "of types real and datetime. Try adding explicit casts"),
    (CL + " | where TimeGenerated > ago('5m')", "'where' operator: ago() takes a timespan, not "
     "string"),
]


@pytest.mark.parametrize("query,message", SEMANTIC)
def test_semantic_errors(query, message):
    with pytest.raises(KqlSemanticError) as info:
        run(query)
    assert info.value.message == message


def test_column_missing_from_one_leg_without_isfuzzy_is_refused():
    """A subquery naming a column its table lacks is an error without
    isfuzzy; with it the leg is left out and the other answers."""
    query = "union %s(ContainerAppConsoleLogs | where Log_s == 'x'), (%s | project Log_s)"
    with pytest.raises(KqlSemanticError):
        run(query % ("", CL))
    assert len(rows(query % ("isfuzzy=true ", CL))) == 6


def test_deep_nesting_is_refused_not_a_crash():
    with pytest.raises(KqlSyntaxError):
        run(CL + " | where " + "(" * 5000 + "true" + ")" * 5000)
    with pytest.raises((KqlSyntaxError, KqlSemanticError)):
        run(CL + " | extend x = 1" + " + 1" * 5000)
