# The two commands of the README: `make dev` and `make test`.
.PHONY: dev test bootstrap build bench lint web demo wasm-size load deploy-check bench-compare

dev:
	bash scripts/dev.sh

test:
	bash scripts/test.sh

bootstrap:
	bash scripts/bootstrap.sh

build: bootstrap
	bash scripts/build-worker.sh

web:
	bash scripts/build-web.sh

demo:
	bash scripts/demo.sh

# N simulated learners against wrangler dev (LOAD_LEARNERS=50,100,200).
load:
	bash scripts/load.sh

# Our Worker against samod and automerge-repo's Node sync server on the
# same workloads: one table with ratios (docs/benchmarks.md).
bench-compare: bootstrap
	bash scripts/bench-compare.sh

# Both deployments' dry-runs (offline) and their bundle sizes.
deploy-check: bootstrap
	bash scripts/deploy-check.sh

# The engine alone, then the Worker under workerd (heavy learner; deck
# history of a 10,000-change deck).
bench: build
	cargo bench --bench sync
	cargo bench --features e2e --bench workerd
	cargo bench --features e2e --bench history

# The browser wasm against the floor Automerge alone sets.
wasm-size:
	bash scripts/wasm-size.sh

lint: bootstrap
	bash scripts/lint-workflows.sh
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features e2e -- -D warnings
	cargo clippy -p myflashplay-sync --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p myflashplay-client --target wasm32-unknown-unknown --features js -- -D warnings
	cargo clippy -p myflashplay-wasm-floor --target wasm32-unknown-unknown -- -D warnings
