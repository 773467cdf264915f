module example.com/hello-tool

go 1.26.8

require github.com/capstream/capstream v0.0.0

// Builds against this checkout. Once github.com/capstream/capstream is
// published, delete this line and run: go get github.com/capstream/capstream@latest
replace github.com/capstream/capstream => ../..
