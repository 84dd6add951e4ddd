# kyoryoku-match: two commands set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/sample
# The sample letters' reply deadline: four weeks from today (a deadline already past is refused).
REPLY_BY := $(shell date -d '+28 days' +%F 2>/dev/null || python3 -c "import datetime as d; print(d.date.today() + d.timedelta(28))")

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## The main job on the bundled sample region (高知県, in the registries' own formats):
## importers → matching → SQLite store → reports → web pages. No downloads.
REG := data/sample/registry
IMP := out/registry
run: $(STAMP)
	$(BIN)/kyoryoku import kaigo $(REG)/kaigo/*.csv --facilities $(REG)/yogo_keihi.csv --out $(IMP)/facilities_registry.csv
	$(BIN)/kyoryoku import navii $(REG)/navii/*.csv --out $(IMP)/institutions_navii.csv
	$(BIN)/kyoryoku import kouseikyoku $(REG)/kouseikyoku/*.xlsx --institutions $(IMP)/institutions_navii.csv --out $(IMP)/institutions_flags.csv
	$(BIN)/kyoryoku import declarations $(REG)/declarations/*.csv --institutions $(IMP)/institutions_flags.csv --out $(IMP)/institutions.csv
	$(BIN)/kyoryoku import filings $(REG)/filings/*.xlsx --facilities $(IMP)/facilities_registry.csv --institutions $(IMP)/institutions.csv --out $(IMP)/facilities.csv
	$(BIN)/kyoryoku match $(IMP)/facilities.csv $(IMP)/institutions.csv --out $(OUT)
	$(BIN)/kyoryoku db upgrade
	$(BIN)/kyoryoku db import-csv $(IMP)/facilities.csv $(IMP)/institutions.csv
	$(BIN)/kyoryoku run --area 39
	$(BIN)/kyoryoku export --area 39 --out out/export.xlsx
	$(BIN)/kyoryoku report --facilities $(IMP)/facilities.csv --institutions $(IMP)/institutions.csv --out out/reports \
	    --sender-org "高知県 子ども・福祉政策部 長寿社会課長" --sender-person "山田 花子" \
	    --sender-phone 088-823-0000 --sender-email kyoryoku@example.jp \
	    --sender-address "〒780-8570 高知市丸ノ内1丁目2番20号" \
	    --document-number "高長第{n}号" --number-start 101 \
	    --reply-by $(REPLY_BY) --reply-method "同封の回答票をメール又はFAXで"
	@echo "取り込み結果と除外行: $(abspath $(IMP))"
	@echo "マッチング結果 (CSV/JSON): $(abspath $(OUT))"
	@echo "データベース: $(abspath kyoryoku.db)  エクスポート: $(abspath out/export.xlsx)  帳票: $(abspath out/reports)/index.html"
	@echo "Web 画面を起動します: http://127.0.0.1:8000 (終了は Ctrl+C)"
	$(BIN)/kyoryoku serve --sample $(IMP)

## Lint (ruff: E, F, I, B, UP at 100 columns; mypy, strict on the core), then every test.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bench_reports.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
