# cellplane: the two commands a newcomer needs are `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: up test test-cluster install dev lint fmt bench bench-setup bench-api bench-commands bench-network bench-inventory bench-dataplane bench-vpn bench-cluster clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

dev: $(STAMP)

## Start the whole platform on the embedded SQLite database (migrates first).
up: $(VENV)/.installed
	$(BIN)/cellplane up --demo

## The full test suite: lint, layer contracts, unit, end-to-end (SQLite and PostgreSQL when it answers).
## Two workers by default (pytest-xdist, a test file per worker at a time: most of the suite waits on servers,
## sockets and timers); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

## The multi-node tests (issue 21; tests/cluster, not part of `make test`): a PostgreSQL primary and synchronous
## standby under Patroni with etcd, two API, two AAA and two gateway nodes, started once (~10 min on 2 cores). Needs
## root (Patroni runs PostgreSQL as the postgres user; patroni and etcd are apt-installed when missing) and
## PostgreSQL 15's binaries: without them every test is skipped with the reason shown. CELLPLANE_CLUSTER_SCALE=0.1
## runs a tenth of the issue's counts, for a quick look.
test-cluster: $(STAMP)
	$(BIN)/pytest -q -n 0 --durations=0 tests/cluster

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks (not part of `make test`): results go to bench/RESULTS.md, with method and machine.
bench: bench-api bench-commands bench-network bench-inventory

## Tools the benchmarks use beyond the venv: wrk (apt), Prism (npm, into bench/.work), py-spy (venv).
bench-setup: $(STAMP)
	bash bench/setup.sh

## Super SIM API on SQLite and PostgreSQL vs Prism and a bare FastAPI handler (~15 min); rewrites its part
## of bench/RESULTS.md. E.g. `make bench-api BENCH_API_ARGS="--backends sqlite --repeats 1"` for a quick look.
BENCH_API_ARGS ?= --profile
bench-api: $(STAMP)
	$(BIN)/python bench/api.py $(BENCH_API_ARGS)

## IP Commands: POST /IpCommands req/s vs Prism, and POST -> datagram latency through `cellplane device bridge`
## at 500/s (~10 min); rewrites its part of bench/RESULTS.md. E.g. BENCH_COMMANDS_ARGS="--backends sqlite".
BENCH_COMMANDS_ARGS ?= --profile
bench-commands: $(STAMP)
	$(BIN)/python bench/commands.py $(BENCH_COMMANDS_ARGS)

## RADIUS: Access- and Accounting-Requests/s through the AAA with radclient as the load, FreeRADIUS (files
## backend) beside it as the reference, on SQLite and PostgreSQL (~3 min); rewrites its part of bench/RESULTS.md.
BENCH_NETWORK_ARGS ?= --repeats 2
bench-network: $(STAMP)
	bash bench/setup.sh
	$(BIN)/python bench/network.py $(BENCH_NETWORK_ARGS)

## Inventory import: `cellplane admin provision-sims --from-csv` of 100,000 rows on SQLite and PostgreSQL, rows/s
## (~2 min); rewrites its part of bench/RESULTS.md. E.g. BENCH_INVENTORY_ARGS="--backends sqlite --repeats 1".
BENCH_INVENTORY_ARGS ?=
bench-inventory: $(STAMP)
	$(BIN)/python bench/inventory.py $(BENCH_INVENTORY_ARGS)

## Data plane (issue 16, root): a device program to a host server through the GTP path, against a bare asyncio
## TUN relay and a plain veth pair, same run (~3 min); rewrites its part of bench/RESULTS.md.
bench-dataplane: $(STAMP)
	bash bench/setup.sh
	$(BIN)/python bench/dataplane.py $(BENCH_DATAPLANE_ARGS)

## VPN tunnels (issue 20, root, strongSwan): a device shell to a customer site's server through the IPsec tunnel
## and in plain IP, same run (~2 min); rewrites its part of bench/RESULTS.md.
bench-vpn: $(STAMP)
	bash bench/setup.sh
	$(BIN)/python bench/vpn.py $(BENCH_VPN_ARGS)

## Cluster (issue 21, PostgreSQL): AAA cold start and memory per SIM at 1,000,000 SIMs, accounting records/s and CPU
## per record with one and two AAA nodes, same run (~6 min); its part of bench/RESULTS.md. E.g. BENCH_CLUSTER_ARGS="--sims 100000".
BENCH_CLUSTER_ARGS ?=
bench-cluster: $(STAMP)
	$(BIN)/python bench/cluster.py $(BENCH_CLUSTER_ARGS)

clean:
	rm -rf $(VENV) .cellplane .pytest_cache .ruff_cache
