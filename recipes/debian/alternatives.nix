# The links Debian's maintainer scripts make with update-alternatives (which do
# not run here), for the packages that need one to be usable by their own name:
# package -> { link in the profile = target inside the package's component }.
# Generic names several packages offer (editor, pager, x-www-browser) are left
# out: a system with two editors would hold both links, and profiles refuse
# such a clash (lower a package's meta.priority to settle one).
{
  vim = builtins.listToAttrs (map (n: { name = "bin/${n}"; value = "bin/vim.basic"; })
    [ "vim" "vimdiff" "rvim" "rview" "vi" "view" "ex" ]);
  vim-tiny = builtins.listToAttrs (map (n: { name = "bin/${n}"; value = "bin/vim.tiny"; })
    [ "vi" "view" "ex" "rview" ]);
  mawk = { "bin/awk" = "bin/mawk"; "bin/nawk" = "bin/mawk"; };
  gawk = { "bin/awk" = "bin/gawk"; "bin/nawk" = "bin/gawk"; };
  netcat-openbsd = { "bin/nc" = "bin/nc.openbsd"; "bin/netcat" = "bin/nc.openbsd"; };
  netcat-traditional = { "bin/nc" = "bin/nc.traditional"; "bin/netcat" = "bin/nc.traditional"; };
}
