# `cmake --install build [--prefix P]` and the .deb (`cpack --config build/CPackConfig.cmake`):
# docs/operations.md "Install from the .deb". What goes where with the prefix /usr (the package):
#   /usr/bin/kabar                            the gateway
#   /usr/lib/kabar/kabar_auth_plugin.so       the broker plugin (broker.auth_plugin of the default config)
#   /usr/lib/systemd/system/kabar.service     the service, hardened (packaging/kabar.service.in)
#   /etc/kabar/kabar.json                     the default configuration (a conffile)
#   /etc/kabar/mosquitto-kabar.conf           a mosquitto drop-in loading the plugin (enabled by hand)
#   /var/lib/kabar                            the data folder, owned by the system user kabar (postinst)
# Paths that depend on the prefix are worked out at install time (packaging/install-files.cmake).
install(TARGETS kabar RUNTIME DESTINATION bin)
install(TARGETS kabar_auth_plugin LIBRARY DESTINATION lib/kabar)
install(FILES docs/operations.md docs/configuration.md docs/authorization.md DESTINATION share/doc/kabar)
install(CODE "set(KABAR_PACKAGING_DIR \"${CMAKE_SOURCE_DIR}/packaging\")\nset(KABAR_GENERATED_DIR \"${CMAKE_BINARY_DIR}/packaging\")")
install(SCRIPT packaging/install-files.cmake)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kabar)
set(CPACK_PACKAGE_VENDOR kabar)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "realtime gateway from MQTT to WebSocket, Server-Sent Events and Pusher")
set(CPACK_PACKAGE_DESCRIPTION "kabar stores what backends publish to MQTT and delivers it to browsers and apps over /ws, /sse and the Pusher protocol, with durable replay. Includes the mosquitto plugin that holds MQTT clients to the same JWTs and policy.")
set(CPACK_PACKAGE_CONTACT "kabar maintainers <root@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# DESTDIR staging, so the install script sees the prefix /usr and puts the configuration under /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Shared libraries from dpkg-shlibdeps; mosquitto for the embedded broker and the plugin's ABI; adduser
# for the user kabar.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "mosquitto (>= 2.0), adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
