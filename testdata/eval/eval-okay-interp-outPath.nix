"${{ outPath = "/p"; }}/bin"
