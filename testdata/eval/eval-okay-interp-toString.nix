"<${{ __toString = s: "T"; }}>"
