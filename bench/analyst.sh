#!/usr/bin/env bash
# The offline analyst's understanding + answer step, per question, over every question of
# tests/analyst/cases.txt (with its conversation history), in a release build:
#   bash bench/analyst.sh            # ROUNDS=200 answers of each question
# Prints mean, p50, p99 and max per answer. The target is under 1 ms (issue 13).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-200}" cargo test --release --lib analyst::cases::speed -- --ignored --nocapture 2>&1 \
  | grep '^analyst:'
