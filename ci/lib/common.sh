# shellcheck shell=bash
# Helpers shared by the ci/ scripts: paths, progress lines, failing loudly.

RXE_ODP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RXE_ODP_CACHE=${RXE_ODP_CACHE:-/var/cache/rxe-odp}
RXE_ODP_BUILD=${RXE_ODP_BUILD:-$RXE_ODP_TOP/build}
RXE_ODP_LOGS=$RXE_ODP_BUILD/logs
LINUX_SOURCE_TARBALL=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}

progress() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Extract the Debian linux-source tarball once; print the tree's path.
linux_source_tree() {
	local dest=$RXE_ODP_CACHE/src stamp

	[[ -r $LINUX_SOURCE_TARBALL ]] ||
		die "$LINUX_SOURCE_TARBALL missing: apt-get install linux-source-6.1"
	stamp=$(stat -c %Y-%s "$LINUX_SOURCE_TARBALL")
	mkdir -p "$RXE_ODP_CACHE"
	# one extraction at a time; the others wait and then find it done
	(
		flock 9 || exit 1
		if [[ ! -f $dest/.stamp || $(cat "$dest/.stamp") != "$stamp" ]]; then
			progress "extracting $LINUX_SOURCE_TARBALL into $dest" >&2
			rm -rf "$dest"
			mkdir -p "$dest"
			tar -C "$dest" -xf "$LINUX_SOURCE_TARBALL" || exit 1
			echo "$stamp" >"$dest/.stamp"
		fi
	) 9>"$RXE_ODP_CACHE/src.lock" || die "extracting $LINUX_SOURCE_TARBALL failed"
	echo "$dest/linux-source-6.1"
}

# Run a long command with its output in a log, printing a heartbeat line
# every minute; on failure show the log's tail.
run_logged() {
	local what=$1 log=$2 pid rc start
	shift 2

	mkdir -p "$(dirname "$log")"
	start=$SECONDS
	progress "$what: started (log: $log)"
	"$@" >"$log" 2>&1 &
	pid=$!
	while ! wait_timeout "$pid" 60; do
		progress "$what: $((SECONDS - start))s, $(wc -l <"$log") log lines"
	done
	rc=0
	wait "$pid" || rc=$?
	if ((rc)); then
		tail -n 40 "$log" >&2
		die "$what failed (exit $rc) after $((SECONDS - start))s; full log: $log"
	fi
	progress "$what: done in $((SECONDS - start))s"
}

# with_lock FILE CMD...: run CMD holding an exclusive flock on FILE, so
# that overlapping runs (two checkouts, two make invocations) take turns
# at a shared cache entry instead of building it over each other.
with_lock() {
	local lock=$1
	shift
	mkdir -p "$(dirname "$lock")"
	(
		flock 9 || exit 1
		"$@"
	) 9>"$lock"
}

# Return 0 once $1 has exited, 1 if it still runs after $2 seconds.
wait_timeout() {
	local pid=$1 n=$2

	while ((n-- > 0)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 1
	done
	! kill -0 "$pid" 2>/dev/null
}

# Set vmlinuz, krel (its release) and modroot (folder holding lib/modules/krel)
# for a bench kernel: stock (Debian's linux-image-amd64) or debug.
guest_kernel() {
	case "$1" in
	stock)
		vmlinuz=$(find /boot -maxdepth 1 -name 'vmlinuz-6.1.*-amd64' | sort -V | tail -n 1)
		[[ -n $vmlinuz ]] || die "no /boot/vmlinuz-6.1.*-amd64: apt-get install linux-image-amd64"
		krel=${vmlinuz#/boot/vmlinuz-}
		modroot=/
		;;
	debug)
		local kobj

		kobj=$("$RXE_ODP_TOP/ci/kernel/build" --print-dir)
		[[ -f $kobj/.done ]] || die "debug kernel not built: run 'make kernel'"
		vmlinuz=$kobj/arch/x86/boot/bzImage
		krel=$(cat "$kobj/include/config/kernel.release")
		modroot=$kobj/modroot
		;;
	*)
		die "unknown bench kernel '$1' (stock or debug)"
		;;
	esac
}
