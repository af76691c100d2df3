# The two commands: `make run` starts the service, `make test` runs the whole test suite.
# Both install what is missing first (node modules, the Temporal CLI).
CONFIG ?= provisioning.yaml

.PHONY: run test setup build typecheck lint docker clean

# Node flags: 4 MB semi-spaces (V8's default grows to 16) and an old generation allowed to grow 30 % past what the
# last full GC kept (V8's default: up to 4x). Memory allocator: jemalloc (Debian's libjemalloc2) when installed, with
# a background thread that returns freed pages within a second; otherwise glibc malloc with two arenas and freed
# memory above 128 KiB returned. With both, the worker peaks near 220 MB at 500 rebuilds and is back at its idle size
# a minute later, at the same speed (bench/RESULTS.md). MALLOC_ENV= (empty) keeps the C library's defaults.
NODE_FLAGS ?= --max-semi-space-size=4 --heap-growing-percent=30
JEMALLOC ?= $(firstword $(wildcard /usr/lib/*-linux-gnu/libjemalloc.so.2))
ifneq ($(JEMALLOC),)
MALLOC_ENV ?= LD_PRELOAD=$(JEMALLOC) MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2
else
MALLOC_ENV ?= GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072
endif

run: build
	$(MALLOC_ENV) node $(NODE_FLAGS) dist/src/main.js --config $(CONFIG)

test: build
	@scripts/setup.sh --test
	npm run --silent typecheck
	npm run --silent lint
	npx vitest run

setup:
	@scripts/setup.sh

build: setup
	npm run --silent build

typecheck: setup
	npm run --silent typecheck

lint: setup
	npm run --silent lint

docker:
	docker build -f deploy/Dockerfile -t provisioning:latest .

clean:
	rm -rf dist .tools node_modules
