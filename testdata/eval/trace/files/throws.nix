# Evaluated when imported: an error here gets the frame naming the file.
let x = 1; in throw "inside the file"
