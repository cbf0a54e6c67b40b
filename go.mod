module github.com/bbusdev/bbus

go 1.26
