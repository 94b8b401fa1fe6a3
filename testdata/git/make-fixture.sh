#!/bin/sh
# Makes the Git repositories the fetchGit/fetchTree oracle test fetches from
# (builder/tests/fetch_git.rs), in DIR, with fixed authors and dates so that
# revisions are the same on every run:
#   repo/       working tree: main (2 commits, tags v1 and annotated v2),
#               branch other (+1 commit), a symlink, an executable, a
#               .gitattributes export-ignore, a submodule sub -> ../subrepo
#   subrepo/    the submodule's repository
#   bare.git    a bare clone of repo
#   dirty/      a clone of repo with a modified, a deleted, a staged and an
#               untracked file
#   empty/      a repository with no commit and one staged file
#   plain/      a directory that is no repository (for fetchTree type path)
#   pkg.tar.gz  a tarball with one top-level directory
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
export GIT_AUTHOR_NAME=b8g GIT_AUTHOR_EMAIL=b8g@example.org
export GIT_COMMITTER_NAME=b8g GIT_COMMITTER_EMAIL=b8g@example.org
export GIT_AUTHOR_DATE='@1700000000 +0000' GIT_COMMITTER_DATE='@1700000000 +0000'
export GIT_CONFIG_NOSYSTEM=1 HOME="$dir/home"
mkdir -p "$HOME"
git config --global protocol.file.allow always
git config --global init.defaultBranch main
g() { git -c commit.gpgsign=false "$@"; }

g init -q subrepo
echo inner > subrepo/inner
g -C subrepo add inner
g -C subrepo commit -qm sub

g init -q repo
cd repo
echo a > a
mkdir d
echo b > d/b
ln -s a link
printf '#!/bin/sh\n' > x
chmod +x x
echo 'secret export-ignore' > .gitattributes
echo hidden > secret
g add .
g submodule --quiet add ../subrepo sub
g commit -qm one
GIT_COMMITTER_DATE='@1700000100 +0000' g commit -q --allow-empty -m two
g tag v1
g tag -a v2 -m annotated
g checkout -q -b other
echo c > c
g add c
GIT_COMMITTER_DATE='@1700000200 +0000' g commit -qm three
g checkout -q main
cd ..

g clone -q --bare repo bare.git

g clone -q repo dirty
echo changed >> dirty/a
rm dirty/x
echo staged > dirty/staged
g -C dirty add staged
echo untracked > dirty/untracked

g init -q empty
echo e > empty/e
g -C empty add e

mkdir -p plain/sub
echo p > plain/p
echo q > plain/sub/q

mkdir -p tarball/pkg-1.0
echo t > tarball/pkg-1.0/t
tar -C tarball -czf pkg.tar.gz pkg-1.0
