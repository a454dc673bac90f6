#!/bin/bash
# Assemble the rdma_rxe sources for one target kernel: the stock rxe from
# Debian's linux-source-6.1, our new files, then our patch series (git am).
# DEST becomes a small git repository, one commit per patch, so that
# `git log` / `git format-patch` there show exactly what we change.
set -euo pipefail

usage() {
	echo "usage: rxe-odp/assemble.sh KDIR DEST" >&2
	echo "  KDIR: kernel build tree the module targets; DEST: output tree" >&2
	exit 2
}

(($# == 2)) || usage
kdir=$1
dest=$2
here=$(cd "$(dirname "$0")" && pwd)
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
rxe=drivers/infiniband/sw/rxe

die() {
	echo "assemble: $*" >&2
	exit 1
}

[[ -r $tarball ]] || die "$tarball not found: apt-get install linux-source-6.1"
[[ -f $kdir/Makefile ]] || die "KDIR $kdir is not a kernel build tree (no Makefile)"
[[ -f $here/patches/series ]] || die "$here/patches/series missing"

shopt -s nullglob
new_files=("$here"/*.[ch])
# KDIR's version; run as a fresh make, not as part of a calling make's job
kdir_version() {
	env -u MAKEFLAGS -u MAKELEVEL make -s -C "$kdir" kernelversion
}

# one assembly of DEST at a time (it goes through DEST.tmp)
mkdir -p "$(dirname "$dest")"
exec 9>"$dest.lock"
flock 9

inputs=$( (stat -c '%n %s %Y' "$tarball"; kdir_version
	   cat "$here"/patches/series "$here"/patches/*.patch "${new_files[@]}") |
	 sha256sum | cut -c1-16)
if [[ -f $dest/.assembled && $(cat "$dest/.assembled") == "$inputs" ]]; then
	exit 0
fi

tmp=$dest.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
tar -C "$tmp" -xf "$tarball" --strip-components=1 \
	linux-source-6.1/Makefile "linux-source-6.1/$rxe"

src_ver=$(awk -F' = ' '$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		 $1 == "SUBLEVEL" { print v "." p "." $2; exit }' "$tmp/Makefile")
kdir_ver=$(kdir_version)
[[ $src_ver == "$kdir_ver" ]] ||
	die "linux-source is $src_ver but $kdir is $kdir_ver: install the linux-source-6.1 and linux-headers packages of the same version"

git_tree() {
	git -C "$tmp" -c user.name=rxe-odp -c user.email=rxe-odp@localhost \
		-c commit.gpgsign=false "$@"
}

git_tree init -q
# kbuild's outputs are not part of the sources
printf '%s\n' '*.o' '*.ko' '*.mod' '*.mod.c' '.*.cmd' '.*.d' modules.order \
	Module.symvers .assembled .assembled-head >"$tmp/.git/info/exclude"
git_tree add -A
git_tree commit -q -m "rxe: stock sources from linux-source-6.1 $src_ver"
if ((${#new_files[@]})); then
	cp "${new_files[@]}" "$tmp/$rxe/"
	git_tree add -A
	git_tree commit -q -m "rxe-odp: new files"
fi
while read -r patch; do
	[[ -z $patch || $patch == \#* ]] && continue
	git_tree am -q --keep-cr "$here/patches/$patch" ||
		die "patch $patch does not apply to linux-source $src_ver"
done <"$here/patches/series"

echo "$inputs" >"$tmp/.assembled"
git_tree rev-parse HEAD >"$tmp/.assembled-head"
# Developers edit and commit in DEST (Documentation/design.md): never
# throw away work that export-patches.sh has not written back yet.
if [[ -f $dest/.assembled-head ]]; then
	if [[ $(git -C "$dest" rev-parse HEAD) != $(cat "$dest/.assembled-head") ||
		-n $(git -C "$dest" status --porcelain --untracked-files=no) ]]; then
		rm -rf "$tmp"
		die "$dest has commits or changes not exported: run rxe-odp/export-patches.sh $dest (or remove $dest)"
	fi
fi
rm -rf "$dest"
mv "$tmp" "$dest"
