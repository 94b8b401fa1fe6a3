# The smallest normal double and the largest are valid; a zero mantissa
# with a huge negative exponent is 0, not an underflow.
[ 2.2250738585072014e-308 1.7976931348623157e308 0.0e-400 .5 1.e5 ]
