# The commands a newcomer needs; each is a script under scripts/.
.PHONY: test bench

test: ## every check and test, as CI runs them
	scripts/test.sh

bench: ## the engine benchmarks (criterion)
	cargo bench --bench engine
