''hello  world''
