"""Routes for the base's own tests (loaded with `azuresim.py --module
azuresim_testroutes`, never by default): a minimal jobs store that uses
every piece of Interface S (spec-validated routes, both async operation
kinds, polls, paging, secrets) without the real Microsoft.App module, so
the base is tested alone. A test sets `x-test-polls: N` on a request to
make the operation it starts answer running for N more polls."""

import copy

from azuresim_core import ArmError

PREFIX = r"/subscriptions/(?P<s>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.App"
JOB = PREFIX + r"/jobs/(?P<job>[^/]+)"


class TestJobs:
    def __init__(self, sim):
        self.sim = sim
        self.jobs = {}

    def register(self):
        r = self.sim.route
        r("PUT", JOB, self.put, "Jobs_CreateOrUpdate")
        r("GET", JOB, self.get, "Jobs_Get")
        r("DELETE", JOB, self.delete, "Jobs_Delete")
        r("POST", JOB + "/start", self.start, "Jobs_Start")
        r("GET", JOB + "/executions", self.executions, "JobsExecutions_List")
        r("GET", PREFIX + r"/jobs", self.list, "Jobs_ListByResourceGroup")
        r("POST", r"/v1/workspaces/(?P<ws>[^/]+)/query", self.query, "Query_Execute",
          audience="logs")
        r("GET", r"/subscriptions/(?P<s>[^/]+)/resourceGroups/(?P<rg>[^/]+)/_test/echo",
          self.echo)

    def _polls(self, req):
        return int(req.headers.get("x-test-polls") or 0)

    def _id(self, req):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/jobs/%s" % (
            self.sim.subscription, self.sim.resource_group, req.match.group("job"))

    def put(self, req):
        job = copy.deepcopy(req.body)
        job.update(id=self._id(req), name=req.match.group("job"), type="Microsoft.App/jobs")
        job["properties"]["provisioningState"] = "Succeeded"
        created = job["name"] not in self.jobs
        self.jobs[job["name"]] = job
        op = self.sim.op_new("async", polls=self._polls(req))
        self.sim.op_done(op["id"])
        return 201 if created else 200, job, {"Azure-AsyncOperation": op["url"]}

    def _job(self, req):
        job = self.jobs.get(req.match.group("job"))
        if job is None:
            raise ArmError(404, "ResourceNotFound", "The Resource 'Microsoft.App/jobs/%s' under "
                           "resource group '%s' was not found." % (req.match.group("job"),
                                                                   self.sim.resource_group))
        return job

    def get(self, req):
        return 200, {k: v for k, v in self._job(req).items() if k != "_runs"}

    def delete(self, req):
        if req.match.group("job") not in self.jobs:
            return 204, None
        del self.jobs[req.match.group("job")]
        op = self.sim.op_new("location", polls=self._polls(req))
        self.sim.op_done(op["id"])
        return 202, None, {"Location": op["url"], "Retry-After": "1"}

    def start(self, req):
        job = self._job(req)
        name = "%s-%d" % (job["name"], len(job.setdefault("_runs", [])) + 1)
        execution = {"id": self._id(req) + "/executions/" + name, "name": name}
        job["_runs"].append(name)
        op = self.sim.op_new("location", polls=self._polls(req))
        if req.headers.get("x-test-fail"):
            self.sim.op_done(op["id"], "Failed", error={"code": "JobExecutionFailed",
                                                        "message": "the test said so"})
        else:
            self.sim.op_done(op["id"], result=execution)
        return 202, None, {"Location": op["url"], "Retry-After": "1"}

    def executions(self, req):
        job = self._job(req)
        items = [{"name": n, "id": self._id(req) + "/executions/" + n,
                  "type": "Microsoft.App/jobs/executions",
                  "properties": {"status": "Succeeded"}} for n in job.get("_runs", [])]
        return 200, self.sim.page(req, items, page_size=2)

    def list(self, req):
        return 200, self.sim.page(req, list(self.jobs.values()), page_size=2)

    def query(self, req):
        return 200, {"tables": [{"name": "PrimaryResult", "columns": [
            {"name": "query", "type": "string"}], "rows": [[req.body["query"]]]}]}

    def echo(self, req):
        return 200, {"principal": req.principal, "api_version": req.api_version}


def register(sim):
    TestJobs(sim).register()
