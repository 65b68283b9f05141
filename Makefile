.PHONY: demo serve test install lint bench

demo:  ## install, migrate, seed the nine-task demo and serve it (OMNI_ADDR, default 127.0.0.1:8000) with a background worker
	./scripts/demo.sh

serve:  ## serve the app and its background worker (no install, no seeding)
	./scripts/serve.sh

test:  ## install and run the whole test suite (CI=true: real PostgreSQL, Redis, S3, Chromium)
	./scripts/test.sh

install:
	./scripts/install.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy . && .venv/bin/lint-imports

bench:
	.venv/bin/python bench/import_bench.py
	.venv/bin/python bench/annotate_bench.py
	.venv/bin/python bench/transcode_bench.py
	.venv/bin/python bench/stats_bench.py
