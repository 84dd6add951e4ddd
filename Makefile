# kyoryoku-match: two commands set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/sample

.PHONY: install run test bench clean

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
	$(BIN)/kyoryoku report --facilities data/sample/facilities.csv --institutions data/sample/institutions.csv --out out/reports
	@echo "結果 (CSV/JSON): $(abspath $(OUT))"
	@echo "データベース: $(abspath kyoryoku.db)  エクスポート: $(abspath out/export.xlsx)  帳票: $(abspath out/reports)/index.html"
	@echo "Web 画面を起動します: http://127.0.0.1:8000 (終了は Ctrl+C)"
	$(BIN)/kyoryoku serve --sample data/sample

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bench_reports.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
