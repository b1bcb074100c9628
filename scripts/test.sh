#!/usr/bin/env bash
# Runs every test of Corvid on a fresh Debian 12 machine (installing what is missing):
#   1. unit tests, warnings as errors (gcc)
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the concurrency tests under ThreadSanitizer
#   4. each libFuzzer target for a short run (FUZZ_SECONDS, default 15)
#   5. integration tests: the real server driven by real XMPP clients (slixmpp,
#      go-sendxmpp, raw sockets), against the ASan build of the server
#   6. a smoke run of every benchmark scenario (bench/smoke; no timing asserted)
#   7. formatting check (clang-format)
# Ends with one line "N passed, N failed" over all of it; exits non-zero on any failure.
# Every build links the bundled wolfSSL, built once by scripts/deps.sh (scripts/wolfssl.sh)
# and shared; CORVID_WOLFSSL=system scripts/test.sh tests against Debian's libwolfssl-dev.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
wolfssl=${CORVID_WOLFSSL:-bundled}

jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-15}
passed=0
failed=0
failures=()

stage() { echo; echo "=== $*"; }
count_ctest() { # $1: name, $2: log file
    local line p f
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$2" | tail -n1)
    if [ -z "$line" ]; then
        failed=$((failed + 1)); failures+=("$1: no test ran"); return
    fi
    f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    p=$(( $(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line") - f ))
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("$1: $f failed")
}
count_plain() { # $1: name, $2: log whose last "N passed, N failed" line counts
    local line p f
    line=$(grep -E "^[0-9]+ passed, [0-9]+ failed" "$2" | tail -n1)
    if [ -z "$line" ]; then
        failed=$((failed + 1)); failures+=("$1: did not finish"); return
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("$1: $f failed")
}
build() { # $1: dir, rest: cmake args
    local dir=$1; shift
    cmake -S . -B "$dir" -DCORVID_WERROR=ON -DCORVID_WOLFSSL="$wolfssl" "$@" \
        >"$dir.configure.log" 2>&1 &&
        cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1
}
mkdir -p build-test-logs

stage "unit tests (gcc, -Werror)"
if build build-test; then
    ctest --test-dir build-test --output-on-failure -j"$jobs" 2>&1 | tee build-test-logs/unit.log
    count_ctest unit build-test-logs/unit.log
else
    cat build-test.configure.log build-test.build.log | tail -n 40
    failed=$((failed + 1)); failures+=("gcc build")
fi

stage "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if build build-asan -DCORVID_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j"$jobs" 2>&1 | tee build-test-logs/asan.log
    count_ctest asan build-test-logs/asan.log
else
    tail -n 40 build-asan.build.log
    failed=$((failed + 1)); failures+=("asan build")
fi

stage "concurrency tests under ThreadSanitizer"
if CC=clang build build-tsan -DCORVID_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug; then
    TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan -L concurrency --output-on-failure \
        2>&1 | tee build-test-logs/tsan.log
    count_ctest tsan build-test-logs/tsan.log
else
    tail -n 40 build-tsan.build.log
    failed=$((failed + 1)); failures+=("tsan build")
fi

stage "fuzz targets (${fuzz_seconds}s each)"
if CC=clang build build-fuzz -DCORVID_FUZZ=ON; then
    for f in build-fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=build-fuzz/corpus-$name
        mkdir -p "$corpus"
        seeds=()
        [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
        if "$f" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix=build-fuzz/ "$corpus" "${seeds[@]}" >build-fuzz/$name.log 2>&1; then
            echo "PASS $name ($(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' build-fuzz/$name.log | tail -n1))"
            passed=$((passed + 1))
        else
            echo "FAIL $name"; tail -n 30 build-fuzz/$name.log
            failed=$((failed + 1)); failures+=("$name")
        fi
    done
else
    tail -n 40 build-fuzz.build.log
    failed=$((failed + 1)); failures+=("fuzz build")
fi

stage "integration tests (real server, real clients)"
if [ -x build-asan/corvid ]; then
    ASAN_OPTIONS=detect_leaks=1 /usr/bin/python3 tests/integration/run.py build-asan 2>&1 |
        tee build-test-logs/integration.log
    count_plain integration build-test-logs/integration.log
else
    failed=$((failed + 1)); failures+=("integration: no server binary")
fi

stage "integration tests against the ThreadSanitizer server (a data race stops it)"
if [ -x build-tsan/corvid ]; then
    TSAN_OPTIONS=halt_on_error=1 /usr/bin/python3 tests/integration/run.py build-tsan 2>&1 |
        tee build-test-logs/integration-tsan.log
    count_plain "integration (tsan)" build-test-logs/integration-tsan.log
else
    failed=$((failed + 1)); failures+=("integration (tsan): no server binary")
fi

stage "benchmark smoke run (every corvid-bench scenario, seconds each; no timing asserted)"
if [ -x build-test/corvid-bench ]; then
    SMOKE_STRICT=1 bench/smoke build-test 2>&1 | tee build-test-logs/smoke.log
    count_plain "bench smoke" build-test-logs/smoke.log
else
    failed=$((failed + 1)); failures+=("bench smoke: corvid-bench not built")
fi

stage "formatting (clang-format)"
files=$(git ls-files '*.c' '*.h')
if clang-format --dry-run --Werror $files >build-test-logs/format.log 2>&1; then
    echo "PASS clang-format"; passed=$((passed + 1))
else
    head -n 20 build-test-logs/format.log
    echo "FAIL clang-format (run: clang-format -i \$(git ls-files '*.c' '*.h'))"
    failed=$((failed + 1)); failures+=("clang-format")
fi

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
