# The two commands of the README: `make dev` and `make test`.
.PHONY: dev test bootstrap build bench lint

dev:
	bash scripts/dev.sh

test:
	bash scripts/test.sh

bootstrap:
	bash scripts/bootstrap.sh

build: bootstrap
	bash scripts/build-worker.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features e2e -- -D warnings
	cargo clippy -p myflashplay-sync --target wasm32-unknown-unknown -- -D warnings
