# The two commands: `make run` starts the service, `make test` runs the whole test suite.
# Both install what is missing first (node modules, the Temporal CLI).
CONFIG ?= provisioning.yaml

.PHONY: run test setup build typecheck lint docker clean

# 4 MB semi-spaces (V8's default grows to 16): less memory idle and after a rebuild storm, as fast (bench/RESULTS.md).
NODE_FLAGS ?= --max-semi-space-size=4

run: build
	node $(NODE_FLAGS) dist/src/main.js --config $(CONFIG)

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
