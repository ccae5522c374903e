# Two commands for a fresh machine (Python 3.11+ and access to the package index; the first run takes ~30 s):
#   make run   - set up .venv, apply migrations, start the product (SQLite, offline AI, Telegram sandbox)
#   make test  - set up .venv with test extras (+ Debian's chromium when root), run ruff and the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: run test lint bench chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/python run.py --migrate

# Browser tests drive Debian's Chromium; install it when we can (root) and it is missing.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

test: $(VENV)/.installed-test chromium lint
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

# Every bench/*.py, the two multi-minute ones at small sizes so the whole run takes a few minutes on a shared
# machine (their full sizes: run them without arguments, see their docstrings). bench/scale_out.py needs
# PostgreSQL at BENCH_PG (the one on 127.0.0.1:5432 by default).
BENCH_PG ?= postgresql://postgres@127.0.0.1:5432/postgres
BENCH_SCALE_ARGS ?= --visitors 50 --seconds 4 --rounds 10 --sockets 2000 --socket-clients 1 --cold-starts 1 \
	--busy-visitors 10 --busy-messages 3
BENCH_SCALE_OUT_ARGS ?= --processes 1,2 --visitors 10 --messages 5 --rounds 10 --samples 100

bench: $(VENV)/.installed-test
	@for script in bench/*.py; do \
		case $$script in \
			bench/scale.py) args="$(BENCH_SCALE_ARGS)";; \
			bench/scale_out.py) args="$(BENCH_SCALE_OUT_ARGS) --admin-url $(BENCH_PG)";; \
			*) args="";; \
		esac; \
		echo "== $$script $$args"; $(BIN)/python $$script $$args || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
