# The two top commands of the README. Both set everything up first (idempotent: seconds once installed).
.PHONY: setup demo test
setup:
	bash scripts/setup_env.sh
demo: setup
	bash scripts/demo.sh
test: setup
	bash scripts/run_tests.sh
