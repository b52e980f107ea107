# Tests for decision.rego: opa test policies/opa/
package vcd.blockd_test

import rego.v1

import data.vcd.blockd

request(org, attempt, facts) := {
	"task_id": "6f1c5a6e-0000-4000-8000-000000000001",
	"operation": "vdcInstantiateVapp",
	"org": org,
	"user": "alice",
	"owner": {"type": "vApp", "name": "billing", "id": "urn:vcloud:vapp:1"},
	"facts": facts,
	"rule": "deployments need a CMDB entry",
	"created": "2026-12-07T09:00:00Z",
	"deadline": "2026-12-09T09:00:00Z",
	"attempt": attempt,
}

test_a_cmdb_entry_resumes if {
	answer := blockd.decision with input as request("prod", 1, {"metadata": {"cmdb_id": "CI-4711"}})
	answer.decision == "resume"
	answer.message == "CMDB entry CI-4711"
}

test_no_entry_holds_while_attempts_remain if {
	answer := blockd.decision with input as request("prod", 3, {"metadata": {}})
	answer.decision == "hold"
}

test_no_entry_aborts_after_the_last_attempt if {
	answer := blockd.decision with input as request("prod", 10, {})
	answer.decision == "abort"
}

test_big_sandbox_vms_fail_even_with_an_entry if {
	facts := {"vm": [{"name": "db", "memory_mb": 131072}], "metadata": {"cmdb_id": "CI-1"}}
	answer := blockd.decision with input as request("sandbox", 1, facts)
	answer.decision == "fail"
}

test_small_sandbox_vms_follow_the_cmdb if {
	facts := {"vm": [{"name": "web", "memory_mb": 4096}], "metadata": {"cmdb_id": "CI-2"}}
	answer := blockd.decision with input as request("sandbox", 1, facts)
	answer.decision == "resume"
}
