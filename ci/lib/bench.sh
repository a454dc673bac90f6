# shellcheck shell=bash
# Helpers of the benchmarks and jobs that run inside a guest (ci/vm/*):
# perftest's server start, and statistics. Sourced, not run.

# perftest_wait_listen: wait, up to 10 s, until a perftest server listens
# on its TCP port (18515, 0x4853 in /proc/net/tcp). If none does, the
# client that follows fails to connect and says so.
perftest_wait_listen() {
	local _

	for _ in $(seq 100); do
		grep -q ':4853 .* 0A ' /proc/net/tcp && return
		sleep 0.1
	done
}

# bench_stats V...: prints "median spread%" of the values, the spread being
# (max - min) / median
bench_stats() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			s = m > 0 ? 100 * (v[NR] - v[1]) / m : 0
			printf "%.6g %.1f\n", m, s
		}'
}

# bench_ratio A B: A / B with 3 decimals (0 when B is 0)
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { r = b > 0 ? a / b : 0; printf "%.3f", r }'
}

# bench_paired A B: the median of A[i] / B[i] over the rounds, A and B being
# comma-separated lists of one value per round
bench_paired() {
	local -a a b r=()
	local i

	IFS=, read -r -a a <<<"$1"
	IFS=, read -r -a b <<<"$2"
	for i in "${!a[@]}"; do
		r+=("$(bench_ratio "${a[i]}" "${b[i]}")")
	done
	bench_stats "${r[@]}" | awk '{ printf "%.3f", $1 }'
}

# bench_pooled R...: the geometric mean of ratios, with a 95% interval (a
# normal one on the logarithms: with tens of ratios, the run-to-run noise
# of single figures averages out), as "mean low high count"
bench_pooled() {
	printf '%s\n' "$@" | awk '
		$1 > 0 { l = log($1); s += l; q += l * l; n++ }
		END {
			if (n < 2) { printf "0 0 0 %d\n", n; exit }
			m = s / n
			sd = sqrt((q - n * m * m) / (n - 1))
			h = 1.96 * sd / sqrt(n)
			printf "%.3f %.3f %.3f %d\n", exp(m), exp(m - h), exp(m + h), n
		}'
}
