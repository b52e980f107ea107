# An Open Policy Agent policy answering vcd-blockd's decision service requests.
#
# vcd-blockd POSTs {"input": <request>} to /v1/data/vcd/blockd/decision (the config's
# [[ask]] url, format = "opa") and reads {"result": {"decision": …, "message": …}}.
# The request: task_id, operation, org, user, owner {type, name, id}, facts (every match key,
# and the owner facts vCD gave: vapp, vm (a list), media, metadata, vdc), rule, created,
# deadline, attempt (1 for the first ask). See docs/ask.md.
#
#   opa run --server --addr 127.0.0.1:8181 policies/opa/decision.rego
#   opa test policies/opa/
package vcd.blockd

import rego.v1

# The largest VM memory a sandbox org may deploy, in MiB.
sandbox_memory_mb := 65536

# How many asks a task without a CMDB entry waits through before it is aborted.
max_attempts := 10

big_vm if {
	some vm in input.facts.vm
	vm.memory_mb > sandbox_memory_mb
}

cmdb_id := input.facts.metadata.cmdb_id

decision := {"decision": "fail", "message": "VMs over 64 GiB are not allowed in the sandbox"} if {
	input.org == "sandbox"
	big_vm
} else := {"decision": "resume", "message": sprintf("CMDB entry %s", [cmdb_id])} if {
	cmdb_id != ""
} else := {"decision": "hold", "message": "Waiting for a CMDB entry (metadata cmdb_id) on the vApp"} if {
	input.attempt < max_attempts
} else := {"decision": "abort", "message": "No CMDB entry (metadata cmdb_id) was given in time"}
