# The two commands: `make run` starts the service, `make test` runs the whole test suite.
# Both install what is missing first (node modules, the Temporal CLI).
CONFIG ?= provisioning.yaml

.PHONY: run backup image test setup build typecheck lint docker clean

run: build
	node dist/src/main.js --config $(CONFIG)

# make backup FILE=backups/provisioning-2026-12-02.db: a consistent copy of the database, also while the service runs
# (restore: deploy/README.md). Checked before building, so a missing FILE fails at once.
ifneq ($(filter backup,$(MAKECMDGOALS)),)
ifeq ($(strip $(FILE)),)
$(error make backup needs FILE, the backup to write: make backup FILE=backups/provisioning-$(shell date +%F).db)
endif
endif
backup: build
	node dist/src/main.js backup '$(FILE)' --config '$(CONFIG)'

# make image ISO=downloads/proxmox-ve_9.1-1.iso [NAME=pve-lab]: a boot image under images.dir from a stock Proxmox VE ISO,
# with the answer URL <server.public_url>/api/boot/answer (xorriso and zstd: scripts/setup.sh installs them as root).
# Checked before building, so a missing ISO fails at once.
ifneq ($(filter image,$(MAKECMDGOALS)),)
ifeq ($(strip $(ISO)),)
$(error make image needs ISO, the stock Proxmox VE ISO: make image ISO=downloads/proxmox-ve_9.1-1.iso [NAME=pve-9.1-1])
endif
endif
image: build
	node dist/src/main.js images prepare '$(ISO)' $(if $(strip $(NAME)),--name '$(NAME)') --config '$(CONFIG)'

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
