# The two commands: `make run` starts the service, `make test` runs the whole test suite.
# Both install what is missing first (node modules, the Temporal CLI).
CONFIG ?= provisioning.yaml

.PHONY: run test setup build typecheck clean

run: build
	node dist/src/main.js --config $(CONFIG)

test: build
	npx vitest run

setup:
	@scripts/setup.sh

build: setup
	npm run --silent build

typecheck: setup
	npm run --silent typecheck

clean:
	rm -rf dist .tools node_modules
