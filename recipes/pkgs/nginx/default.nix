# nginx 1.22 from Debian 12 (packages `nginx` and `nginx-common`), laid out by
# `bootstrap.debPackage`: it runs from the store with no /usr or /lib.
#
# Output layout (Debian's with usr/ merged into the top):
#   $out/sbin/nginx                      the server; interpreter and RUNPATH are store paths
#   $out/etc/nginx/{nginx.conf,mime.types,fastcgi_params,...}
#                                        Debian's configuration files (read-only examples)
#   $out/share/nginx/html/               Debian's default pages
#   $out/lib/systemd/system/nginx.service  Debian's unit (paths in it still say /usr/sbin)
# Compiled-in defaults still point at the FHS: the configuration /etc/nginx/nginx.conf,
# the error log /var/log/nginx/error.log, the pid file /run/nginx.pid, temporary
# directories under /var/lib/nginx and the modules directory /usr/lib/nginx/modules.
# A module should therefore start it as
#   nginx -p <state dir> -e stderr -c <generated config>
# and set pid, error_log and *_temp_path in the generated configuration (`include
# ${nginx}/etc/nginx/mime.types` works). No dynamic modules (libnginx-mod-*) are included.
{ bootstrap }:
bootstrap.seeds.nginx
