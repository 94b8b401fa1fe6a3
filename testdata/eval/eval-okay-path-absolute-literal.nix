builtins.isPath /etc/passwd
