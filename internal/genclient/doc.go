// Package genclient holds a Go client generated from the node's OpenAPI
// document (httpapi/openapi.yaml) by oapi-codegen, as a user of another
// language would generate one, and the test that runs it against a real node:
// the document is a contract only if such a client is exact (nonces to
// 2^64-1, decimals as strings, signed transactions sent verbatim).
//
// The generated file is a test file: the client is a fixture of that test,
// not an API of bbus (package client is the Go client). Regenerate it with
// go generate ./internal/genclient after changing the document.
package genclient

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../../httpapi/openapi.yaml
