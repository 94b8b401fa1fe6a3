throw "custom error"
