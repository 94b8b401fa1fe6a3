# system.build.image: the root file system image of the generation, built in the
# store by `builtin:b8g-root-image` (`b8g-build -A image`; the image is
# `result/root.img`). The same bytes as `b8g-build --image` writes.
{ config, lib, ... }:
let
  rootFs = config.fileSystems."/".fsType or "erofs";
in
{
  options.system.image.format = lib.mkOption {
    type = lib.types.enum [ "erofs" "ext4" ];
    default = if rootFs == "ext4" then "ext4" else "erofs";
    defaultText = lib.literalExpression ''"ext4" if fileSystems."/" is ext4, else "erofs"'';
    description = "File system of the root image.";
  };
  config.system.build.image = derivation {
    name = "b8g-image-${config.system.name}";
    system = "builtin";
    builder = "builtin:b8g-root-image";
    toplevel = config.system.build.toplevel;
    format = config.system.image.format;
    preferLocalBuild = true;
  };
}
