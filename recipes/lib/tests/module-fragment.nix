# Imported by the disabledModules and import tests (not a test of its own).
{ l = [ "fragment" ]; }
