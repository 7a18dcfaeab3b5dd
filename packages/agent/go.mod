module burrow/agent

go 1.19
