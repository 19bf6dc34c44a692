module github.com/crowd-dev/crowd/client

go 1.24
