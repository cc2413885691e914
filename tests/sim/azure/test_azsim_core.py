"""Pieces of the base used in-process by the modules: la_ingest's
TimeGenerated and _timestamp_ns, the token store's audiences, the spec
index (every operationId azapp and azla route exists)."""

import time

from azuresim_core import Sim, la_time, parse_time_ns


def make_sim(tmp_path):
    return Sim("sub", "rg", "westeurope", "tenant", str(tmp_path), "http://127.0.0.1:1")


def test_la_ingest_adds_both_times(tmp_path):
    sim = make_sim(tmp_path)
    before = time.time_ns()
    sim.la_ingest("T_CL", {"Log_s": "a"})
    row = sim.la_tables["T_CL"][0]
    assert before <= row["_timestamp_ns"] <= time.time_ns()
    assert row["TimeGenerated"] == la_time(row["_timestamp_ns"])
    assert len(row["TimeGenerated"].split(".")[1]) == 8  # 7 digits and the Z


def test_la_ingest_keeps_a_given_time(tmp_path):
    sim = make_sim(tmp_path)
    sim.la_ingest("T_CL", {"Log_s": "b", "TimeGenerated": "2026-12-05T10:00:00.1234567Z"})
    row = sim.la_tables["T_CL"][0]
    assert row["TimeGenerated"] == "2026-12-05T10:00:00.1234567Z"
    assert row["_timestamp_ns"] == parse_time_ns("2026-12-05T10:00:00.123456700Z")
    assert la_time(row["_timestamp_ns"]) == row["TimeGenerated"]


def test_tokens_per_audience(tmp_path):
    sim = make_sim(tmp_path)
    arm = sim.issue_token("arm", {"oid": "o"})
    logs = sim.issue_token("logs", {"oid": "o"})
    assert sim.check_token(arm, "arm")["aud"] == "https://management.azure.com/"
    assert sim.check_token(arm, "logs") is None
    assert sim.check_token(logs, "https://api.loganalytics.io")["oid"] == "o"
    assert sim.check_token(arm + "x", "arm") is None
    sim.tokens.expire(arm)
    assert sim.check_token(arm, "arm") is None


def test_operation_ids_the_modules_use(tmp_path):
    sim = make_sim(tmp_path)
    for op_id in ("Jobs_CreateOrUpdate", "Jobs_Get", "Jobs_Delete", "Jobs_Update", "Jobs_Start",
                  "Jobs_StopExecution", "Jobs_StopMultipleExecutions", "JobsExecutions_List",
                  "JobExecution", "Jobs_ListSecrets", "ManagedEnvironments_Get",
                  "ManagedEnvironments_GetAuthToken", "ManagedEnvironmentsStorages_CreateOrUpdate",
                  "ManagedEnvironmentsStorages_Get", "ManagedEnvironmentsStorages_Delete",
                  "Query_Execute", "Query_Get"):
        assert sim.spec.operation(op_id), op_id
