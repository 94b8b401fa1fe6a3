# Bootstrap seeds: Debian 12 binary packages pinned by name, version and sha256.
# Regenerate with `b8g bootstrap lock` after `apt-get update` when the archive
# has moved on (it serves only current versions).
{
  busybox-static = {
    package = "busybox-static";
    version = "1:1.35.0-4+deb12u1+b1";
    sha256 = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744";
  };
  linux-image = {
    package = "linux-image-6.1.0-56-amd64";
    # A new kernel ABI is a new package name: refresh through the metapackage.
    follows = "linux-image-amd64";
    version = "6.1.192-2";
    sha256 = "a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1";
    kernelVersion = "6.1.0-56-amd64";
  };
  # A second kernel build of the same release (Debian's cloud flavour): what a
  # generation that changes kernels boots (cli/tests/install_vm.rs).
  linux-image-cloud = {
    package = "linux-image-6.1.0-56-cloud-amd64";
    follows = "linux-image-cloud-amd64";
    version = "6.1.192-2";
    sha256 = "e7d02b943971edcb8790e256c02cfab3bca6c3d37c1bf25392a57c71300615ee";
    kernelVersion = "6.1.0-56-cloud-amd64";
  };
  patchelf = {
    package = "patchelf";
    version = "0.14.3-1+b1";
    sha256 = "0364b90e81faabbb9569076063952c7bcbf07f83d954a2f2602a163d65be60e6";
  };
  libc6 = {
    package = "libc6";
    version = "2.36-9+deb12u14";
    sha256 = "ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf";
  };
  "libstdc++6" = {
    package = "libstdc++6";
    version = "12.2.0-14+deb12u1";
    sha256 = "5cd3171216d4ab0fc911cfe9c35509bf2dd8f47761c43b7f6a4296701551a24d";
  };
  libgcc-s1 = {
    package = "libgcc-s1";
    version = "12.2.0-14+deb12u1";
    sha256 = "3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7";
  };
  gcc-12-base = {
    package = "gcc-12-base";
    version = "12.2.0-14+deb12u1";
    sha256 = "1896a2aacf4ad681ff5eacc24a5b0ca4d5d9c9b9c9e4b6de5197bc1e116ea619";
  };
  nginx = {
    package = "nginx";
    version = "1.22.1-9+deb12u12";
    sha256 = "1a1014cd0dcc0b46b5c9369713d5781493d7effc9b4c25c78ac6369cb4bb71b2";
  };
  nginx-common = {
    package = "nginx-common";
    version = "1.22.1-9+deb12u12";
    sha256 = "8edefcd0104c5f407ea2ac0c7e3c937b1f9918a53ae25337e466ab0f32afa8b1";
  };
  libpcre2-8-0 = {
    package = "libpcre2-8-0";
    version = "10.42-1+deb12u2";
    sha256 = "d2f7edfcc7689b9e0761c2742cc824ac86a20768bc5e8057818dc6875291fe76";
  };
  libssl3 = {
    package = "libssl3";
    version = "3.0.22-1~deb12u2";
    sha256 = "cb4784740daa9b3b0eaea2b444bbefa686794afbbf3d678d238c1fd9875f2efd";
  };
  zlib1g = {
    package = "zlib1g";
    version = "1:1.2.13.dfsg-1";
    sha256 = "d7dd1d1411fedf27f5e27650a6eff20ef294077b568f4c8c5e51466dc7c08ce4";
  };
  libcrypt1 = {
    package = "libcrypt1";
    version = "1:4.4.33-2";
    sha256 = "f5f60a5cdfd4e4eaa9438ade5078a57741a7a78d659fcb0c701204f523e8bd29";
  };
  gcc-12 = {
    package = "gcc-12";
    version = "12.2.0-14+deb12u1";
    sha256 = "b46f33cc2ec245e435e043807038cecf4b201ef004800e9dfc1455240360e49d";
  };
  cpp-12 = {
    package = "cpp-12";
    version = "12.2.0-14+deb12u1";
    sha256 = "fedbb98e877adde83c983c6071537ea25ac52b277ac6e4637d85025949ca1454";
  };
  libcc1-0 = {
    package = "libcc1-0";
    version = "12.2.0-14+deb12u1";
    sha256 = "4ee6009633003f47de98333ea7f7d8835ec563ae2ac4f30251dbfee04d75d46b";
  };
  binutils = {
    package = "binutils";
    version = "2.40-2";
    sha256 = "83c3e20b53e1fbd84d764c3ba27d26a0376e361ae5d7fb37120196934dd87424";
  };
  binutils-common = {
    package = "binutils-common";
    version = "2.40-2";
    sha256 = "ab314134f43a0891a48f69a9bc33d825da748fa5e0ba2bebb7a5c491b026f1a0";
  };
  binutils-x86-64-linux-gnu = {
    package = "binutils-x86-64-linux-gnu";
    version = "2.40-2";
    sha256 = "2d7ea8a570d768224d7f2424abbe6f373d2154865a1fa7f56c80d43ecf492521";
  };
  libbinutils = {
    package = "libbinutils";
    version = "2.40-2";
    sha256 = "fcf55b99e5f8a78f3c8ce9b6957f1024f394cf20c196b100d308a57e43547710";
  };
  libctf0 = {
    package = "libctf0";
    version = "2.40-2";
    sha256 = "3fb7b6f326be3fae4a87a3d33b9269bd06c1e4346a24bd737f265067e3b7427f";
  };
  libctf-nobfd0 = {
    package = "libctf-nobfd0";
    version = "2.40-2";
    sha256 = "ef1dfcf22de41ea90ebd3d505447ccccd999e96b85aa777a1d7d981dc3b347aa";
  };
  libgprofng0 = {
    package = "libgprofng0";
    version = "2.40-2";
    sha256 = "a3c4092d84f19d13caf90f3c96eec53db8819f0e3a5247434944d71ed75fa53d";
  };
  libjansson4 = {
    package = "libjansson4";
    version = "2.14-2";
    sha256 = "3fc9742f9f1a37bcb9931df6074b4d1483419ef832ad5349f47323e75fc27864";
  };
  libzstd1 = {
    package = "libzstd1";
    version = "1.5.4+dfsg2-5";
    sha256 = "6315b5ac38b724a710fb96bf1042019398cb656718b1522279a5185ed39318fa";
  };
  libc6-dev = {
    package = "libc6-dev";
    version = "2.36-9+deb12u14";
    sha256 = "0218fc2befcd784c1b0c6292c0a137ce89fad054efaa579ad083bee0f2c01aae";
  };
  libc-dev-bin = {
    package = "libc-dev-bin";
    version = "2.36-9+deb12u14";
    sha256 = "f61d923b703401023bec2ac3d9d1c9ad7341930fbe11736f7f5ef64b489d03c4";
  };
  linux-libc-dev = {
    package = "linux-libc-dev";
    version = "6.1.192-3";
    sha256 = "1b699a9cf27fd36f295b8f7615b73cea8d2d11d43c275c2aca1f4a7a7d14c4ea";
  };
  libcrypt-dev = {
    package = "libcrypt-dev";
    version = "1:4.4.33-2";
    sha256 = "81ccd29130f75a9e3adabc80e61921abff42f76761e1f792fa2d1bb69af7f52f";
  };
  libnsl-dev = {
    package = "libnsl-dev";
    version = "1.3.0-2";
    sha256 = "bb81a188c119cd7fdebae723cbc95887b6c549b2fe4fb7e268a9c8846444da99";
  };
  libnsl2 = {
    package = "libnsl2";
    version = "1.3.0-2";
    sha256 = "c0d83437fdb016cb289436f49f28a36be44b3e8f1f2498c7e3a095f709c0d6f8";
  };
  libtirpc-dev = {
    package = "libtirpc-dev";
    version = "1.3.3+ds-1";
    sha256 = "03326473eed54ffa27efae19aa5d6aeb402930968f869f318445513093691d55";
  };
  libtirpc3 = {
    package = "libtirpc3";
    version = "1.3.3+ds-1";
    sha256 = "2a46d5a5e9486da11ffeff5740931740d6deae4f92cd6098df060dc5dff1e1c7";
  };
  rpcsvc-proto = {
    package = "rpcsvc-proto";
    version = "1.4.3-1";
    sha256 = "32ac0692694f8a34cc90c895f4fc739680fb2ef0e2d4870a68833682bf1c81a3";
  };
  libgcc-12-dev = {
    package = "libgcc-12-dev";
    version = "12.2.0-14+deb12u1";
    sha256 = "d720259380a84f2ffc6fe516eff5cbe9c8a005138e8d6a5748747ba4b3404a82";
  };
  libgomp1 = {
    package = "libgomp1";
    version = "12.2.0-14+deb12u1";
    sha256 = "48fec46bda7f5b1638b9e959889bfbc20491247d402d120bb152687eb48143d7";
  };
  libatomic1 = {
    package = "libatomic1";
    version = "12.2.0-14+deb12u1";
    sha256 = "fbd4e154a6b444229ea002cc209df099209c0adc09102e5fd21239a3d2b55e2d";
  };
  libquadmath0 = {
    package = "libquadmath0";
    version = "12.2.0-14+deb12u1";
    sha256 = "3f0c9a4c730da2fdab001cae596625438598fd2996d29d888feeb4c1cdc9011f";
  };
  libisl23 = {
    package = "libisl23";
    version = "0.25-1.1";
    sha256 = "ebff0b2f8b220c74224197523019366e97ee4770d464bebc48e4865114e4da0e";
  };
  libmpc3 = {
    package = "libmpc3";
    version = "1.3.1-1";
    sha256 = "d7f79544790e44f9b0c8cb9034a18c58d37f8702a15f32539050718679e52f80";
  };
  libmpfr6 = {
    package = "libmpfr6";
    version = "4.2.0-1";
    sha256 = "37b7a2b4e78890b6a074777f27b96c84f58e81558ba08410c2b6c0ca4a4ad77b";
  };
  libgmp10 = {
    package = "libgmp10";
    version = "2:6.2.1+dfsg1-1.1";
    sha256 = "187aedef2ed763f425c1e523753b9719677633c7eede660401739e9c893482bd";
  };
  make = {
    package = "make";
    version = "4.3-4.1";
    sha256 = "a1a83af8cbd854af887b72ad196b1f4af58387815e21ced1000253a116a46e2a";
  };
  tar = {
    package = "tar";
    version = "1.34+dfsg-1.2+deb12u1";
    sha256 = "24fb92e98c2969171f81a8b589263d705f6b1670f95d121cd74c810d4605acc3";
  };
  libacl1 = {
    package = "libacl1";
    version = "2.3.1-3";
    sha256 = "8be9df5795114bfe90e2be3d208ef47a5edd3fc7b3e20d387a597486d444e5e2";
  };
  libselinux1 = {
    package = "libselinux1";
    version = "3.4-1+b6";
    sha256 = "2b07f5287b9105f40158b56e4d70cc1652dac56a408f3507b4ab3d061eed425f";
  };
  # Debian source packages: `file` of source package `source` at `version`,
  # fetched by `bootstrap.fetchDebSource`.
  hello-source = {
    source = "hello";
    version = "2.10-3";
    file = "hello_2.10.orig.tar.gz";
    sha256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
  };
  # The unikernel's kernel, built from source (recipes/pkgs/linux-unikernel): the
  # source of the pinned linux-image, kconfig's parser generators, bash for
  # kbuild's bash scripts and libelf for objtool.
  linux-source = {
    package = "linux-source-6.1";
    version = "6.1.192-2";
    sha256 = "ae95fe63d4c553f8d0e6c86cb1ab566f3894a43743eb19ab585cd97d82f26514";
  };
  flex = {
    package = "flex";
    version = "2.6.4-8.2";
    sha256 = "da3fd55dbb6aff4f7b3187580813e0ef707d0c596402e37c8fd144df60003636";
  };
  bison = {
    package = "bison";
    version = "2:3.8.2+dfsg-1+b1";
    sha256 = "a414afd7519c53bfa33415ba5b951bc8b4906877004c49723ffda50a6033c3e8";
  };
  m4 = {
    package = "m4";
    version = "1.4.19-3";
    sha256 = "b2dd7bfca426712416e651bb5ff6dabe7d05e4caebbac61d714dbe261b31e4c3";
  };
  bash = {
    package = "bash";
    version = "5.2.15-2+b13";
    sha256 = "82130bb6a560cd2a7234d8018baf73f188f5dd56413d5aa0accc987b2197a6a1";
  };
  libtinfo6 = {
    package = "libtinfo6";
    version = "6.4-4";
    sha256 = "072d908f38f51090ca28ca5afa3b46b2957dc61fe35094c0b851426859a49a51";
  };
  libelf1 = {
    package = "libelf1";
    version = "0.188-2.1";
    sha256 = "619add379c606b3ac6c1a175853b918e6939598a83d8ebadf3bdfd50d10b3c8c";
  };
  libelf-dev = {
    package = "libelf-dev";
    version = "0.188-2.1";
    sha256 = "79cb66b55021bd0130308369524bac5240d0b5463cb252cd44be6a1500fdebec";
  };
  # The UEFI boot loader `b8g install` puts on the EFI system partition.
  systemd-boot-efi = {
    package = "systemd-boot-efi";
    version = "252.39-1~deb12u2";
    sha256 = "8f2b81bdcfafc466882a0cae460272dbf10d8d97c6a3c1c6ea33038c155a2f5e";
  };
  # Time zone data for time.timeZone (architecture-independent).
  tzdata = {
    package = "tzdata";
    version = "2026f-0+deb12u1";
    sha256 = "3254eb870c8a949518214805aee5e4276af7699988ea8b9a3a583cd0f1eab31c";
  };
  # sudo and the PAM it authenticates through (security.sudo).
  sudo = {
    package = "sudo";
    version = "1.9.13p3-1+deb12u4";
    sha256 = "ea9987f92630be504998516e1ed9c821c483131d0576ff35a09d6e7f8deff10f";
  };
  libpam0g = {
    package = "libpam0g";
    version = "1.5.2-6+deb12u3";
    sha256 = "2cc3411d70739d7f09ee8f1dd145903320294e36bf6bda3cb56dd25eb9a8505f";
  };
  libpam-modules = {
    package = "libpam-modules";
    version = "1.5.2-6+deb12u3";
    sha256 = "70df6c0f65623896680c3b1199b980fdac9f2274bdfcb24685eca1100644db1d";
  };
  libaudit1 = {
    package = "libaudit1";
    version = "1:3.0.9-1";
    sha256 = "30954df4b5a7c505661ba8ae5e6ea94f5805e408899fb400783bb166eb5ff306";
  };
  libcap-ng0 = {
    package = "libcap-ng0";
    version = "0.8.3-1+b3";
    sha256 = "b4b54769c77e4a71c8b33aee4d600ba28a9994a1c6f60d55d4ebe7fc44882e07";
  };
  # OpenSSH (services.openssh) and the libraries sshd, ssh-keygen and ssh link.
  openssh-server = {
    package = "openssh-server";
    version = "1:9.2p1-2+deb12u10";
    sha256 = "933cd92a2329f9bf26d22660a834ae18ebdbe8df9c6127e4d9fcb098dac9cf72";
  };
  openssh-client = {
    package = "openssh-client";
    version = "1:9.2p1-2+deb12u10";
    sha256 = "42c250b8b9110382488c53c066a960bc564ddac2cb9e449f47b6cdbb5fc1cb60";
  };
  openssh-sftp-server = {
    package = "openssh-sftp-server";
    version = "1:9.2p1-2+deb12u10";
    sha256 = "18d7ef7873861272b43b764295cbd8c04f439108fc3a4cecb3fe6e095f8ee2a8";
  };
  libwrap0 = {
    package = "libwrap0";
    version = "7.6.q-32";
    sha256 = "cbce2669a3ba4d74cfdc52b14f38014893e23d85a33d109a3422c342eefc55f8";
  };
  libtirpc-common = {
    package = "libtirpc-common";
    version = "1.3.3+ds-1";
    sha256 = "3e3ef129b4bf61513144236e15e1b4ec57fa5ae3dc8a72137abdbefb7a63af85";
  };
  libgssapi-krb5-2 = {
    package = "libgssapi-krb5-2";
    version = "1.20.1-2+deb12u5";
    sha256 = "d8b87aea91b956b416c01a28c44ff6228315ae3b73de40acddac3dc5043607d2";
  };
  libkrb5-3 = {
    package = "libkrb5-3";
    version = "1.20.1-2+deb12u5";
    sha256 = "c90801be09701af221b54dd502a59cb378b7284ff31e480738baca317d2f7653";
  };
  libk5crypto3 = {
    package = "libk5crypto3";
    version = "1.20.1-2+deb12u5";
    sha256 = "7b6e47d15c5c9cdcd456137533d8308aeba608a54cec73b28bd59bfc4b54cf06";
  };
  libkrb5support0 = {
    package = "libkrb5support0";
    version = "1.20.1-2+deb12u5";
    sha256 = "8b9c05f2d8d461a10d657b118f572af5bf8fd6c8f93dcef81e852c5ab0f428ab";
  };
  libkeyutils1 = {
    package = "libkeyutils1";
    version = "1.6.3-2";
    sha256 = "cfac89e6a7a54ff3c6a4f843310e25efeddaa771baeae470bd98bd588c373563";
  };
  libcom-err2 = {
    package = "libcom-err2";
    version = "1.47.0-2+b2";
    sha256 = "a2bac7015e78fbc0c504df3e441f3a22292f1d2d77f9ccda760057f3690e22f2";
  };
  libsystemd0 = {
    package = "libsystemd0";
    version = "252.39-1~deb12u2";
    sha256 = "013c07514a9e4933b2d5c098018695a6aa42d085dbc483ce2c094a954c8a1b0a";
  };
  libcap2 = {
    package = "libcap2";
    version = "1:2.66-4+deb12u3+b1";
    sha256 = "8d684c673e7483802a5c447834b0df6fce006eb3a7109e1be412f5ad425bb24f";
  };
  libgcrypt20 = {
    package = "libgcrypt20";
    version = "1.10.1-3+deb12u1";
    sha256 = "e7a56552139c693904a6f9712234c05fe918353273a7cbdb5e62f423ad71bb97";
  };
  libgpg-error0 = {
    package = "libgpg-error0";
    version = "1.46-1";
    sha256 = "89944ee11d7370ce6ef46fc52f094c4a6512eff8943ec4c6ebefeae6360ceada";
  };
  liblz4-1 = {
    package = "liblz4-1";
    version = "1.9.4-1";
    sha256 = "64cde86cef1deaf828bd60297839b59710b5cd8dc50efd4f12643caaee9389d3";
  };
  liblzma5 = {
    package = "liblzma5";
    version = "5.4.1-1+deb12u2";
    sha256 = "3d8c29c8c21ec6007635e1b2591edf98b771c9572a085968f47452b33040f384";
  };
}
