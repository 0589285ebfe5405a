# Run by `cmake --install` and by cpack (cmake/install.cmake): the files whose place or contents depend
# on the install prefix, which is only known now. With the prefix /usr (the .deb) the configuration goes
# to /etc/kabar and the data folder is /var/lib/kabar; with any other prefix (/usr/local, /opt/kabar)
# both stay under it (PREFIX/etc/kabar, PREFIX/var/lib/kabar). DESTDIR is honoured as by install().
# Needs KABAR_PACKAGING_DIR (this folder) and KABAR_GENERATED_DIR (build/packaging).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(KABAR_SYSCONFDIR /etc)
  set(KABAR_STATEDIR /var/lib/kabar)
else()
  set(KABAR_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
  set(KABAR_STATEDIR "${CMAKE_INSTALL_PREFIX}/var/lib/kabar")
endif()
set(KABAR_CONFDIR "${KABAR_SYSCONFDIR}/kabar")
set(KABAR_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
set(KABAR_PLUGINDIR "${CMAKE_INSTALL_PREFIX}/lib/kabar")
set(KABAR_DOCDIR "${CMAKE_INSTALL_PREFIX}/share/doc/kabar")
set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

set(generated "${KABAR_GENERATED_DIR}/${CMAKE_INSTALL_PREFIX}")
foreach(name kabar.service kabar.json mosquitto-kabar.conf)
  configure_file("${KABAR_PACKAGING_DIR}/${name}.in" "${generated}/${name}" @ONLY)
endforeach()

function(kabar_install_file file destination permissions)
  # A configuration already there is the operator's: `cmake --install` over it leaves it alone (dpkg
  # handles its conffiles itself: the staging folder cpack installs into is always empty).
  get_filename_component(name "${file}" NAME)
  if(ARGN STREQUAL "KEEP" AND EXISTS "$ENV{DESTDIR}${destination}/${name}")
    message(STATUS "Kept (exists): $ENV{DESTDIR}${destination}/${name}")
    return()
  endif()
  file(INSTALL "${file}" DESTINATION "${destination}" PERMISSIONS ${permissions})  # adds DESTDIR itself
endfunction()
set(read OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
kabar_install_file("${generated}/kabar.service" "${unitdir}" "${read}")
kabar_install_file("${generated}/kabar.json" "${KABAR_CONFDIR}" "${read}" KEEP)
kabar_install_file("${generated}/mosquitto-kabar.conf" "${KABAR_CONFDIR}" "${read}" KEEP)
file(MAKE_DIRECTORY "$ENV{DESTDIR}${KABAR_STATEDIR}")
