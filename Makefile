# kyoryoku-match: two commands set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/sample

.PHONY: install run test bench clean serve

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## The main job on the bundled sample data (SQLite kyoryoku.db, no downloads).
run: $(STAMP)
	$(BIN)/kyoryoku match data/sample/facilities.csv data/sample/institutions.csv --out $(OUT)
	$(BIN)/kyoryoku db upgrade
	$(BIN)/kyoryoku db import-csv data/sample/facilities.csv data/sample/institutions.csv
	$(BIN)/kyoryoku run --area 39
	$(BIN)/kyoryoku export --area 39 --out out/export.xlsx
	@echo "結果 (CSV/JSON): $(abspath $(OUT))"
	@echo "データベース: $(abspath kyoryoku.db)  エクスポート: $(abspath out/export.xlsx)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
