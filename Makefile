.PHONY: demo test setup lint sanity unit integration molecule bench clean
demo:
	./scripts/demo.sh
test:
	./scripts/test.sh
setup:
	./scripts/setup.sh test
lint:
	./scripts/test.sh ruff lint
sanity:
	./scripts/test.sh sanity
unit:
	./scripts/test.sh unit
integration:
	./scripts/test.sh integration
molecule:
	./scripts/test.sh molecule
bench:
	./scripts/bench.sh
clean:
	rm -rf .venv .state .collections tests/output .pytest_cache .ruff_cache
