builtins.hashFile "md5" ./data/hello.txt
