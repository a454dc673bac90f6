#!/bin/bash
# The other half of assemble.sh: after editing and committing in an
# assembled tree (build/<release>/rxe), write its commits back as the patch
# series and copy our new files back into rxe-odp/.
#   - commits after "rxe-odp: new files" become rxe-odp/patches/*.patch and
#     the series file, in order (the old patches are replaced);
#   - files of drivers/infiniband/sw/rxe that the stock commit does not have
#     are our new files: they are copied to rxe-odp/ as they are at HEAD.
# A new file must be added in the tree's "rxe-odp: new files" commit
# (git commit --fixup + rebase), not by a patch.
set -euo pipefail

usage() {
	echo "usage: rxe-odp/export-patches.sh TREE   (e.g. build/6.1.0-56-amd64/rxe)" >&2
	exit 2
}

(($# == 1)) && [[ -d $1/.git ]] || usage
tree=$1
here=$(cd "$(dirname "$0")" && pwd)
rxe=drivers/infiniband/sw/rxe

[[ -z $(git -C "$tree" status --porcelain) ]] ||
	{ echo "export-patches: $tree has uncommitted changes" >&2; exit 1; }
stock=$(git -C "$tree" rev-list --max-parents=0 HEAD)
base=$(git -C "$tree" log --format=%H --grep='^rxe-odp: new files$' HEAD)
base=${base:-$stock}

rm -f "$here"/patches/*.patch
git -C "$tree" format-patch -q --zero-commit --no-signature -o "$here/patches" "$base..HEAD"
(cd "$here/patches" && ls -- *.patch) >"$here/patches/series" 2>/dev/null || : >"$here/patches/series"

git -C "$tree" diff --name-only --diff-filter=A "$stock" "$base" -- "$rxe" |
	while read -r path; do
		git -C "$tree" show "HEAD:$path" >"$here/$(basename "$path")"
	done
# what is exported now may be replaced by the next assembly (assemble.sh)
git -C "$tree" rev-parse HEAD >"$tree/.assembled-head"
echo "exported $(wc -l <"$here/patches/series") patches from $tree"
