[ "${./src/a.txt}" "${./src}" "${./src/run.sh}" ]
