# portcullis_generated_docs(target section): the program's manual page (target.section) and
# bash completion, printed by the built program itself (`--generate man|bash-completion`) from
# its option table, so they are never out of date; both are installed by `cmake --install`.
function(portcullis_generated_docs target section)
  set(dir ${CMAKE_BINARY_DIR}/doc)
  set(page ${dir}/${target}.${section})
  set(completion ${dir}/completions/${target})
  add_custom_command(
    OUTPUT ${page} ${completion}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}/completions
    COMMAND sh -c "\"$1\" --generate man > \"$2\" && \"$1\" --generate bash-completion > \"$3\""
            sh $<TARGET_FILE:${target}> ${page} ${completion}
    DEPENDS ${target}
    COMMENT "manual page and bash completion of ${target}"
    VERBATIM)
  add_custom_target(${target}_docs ALL DEPENDS ${page} ${completion})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  install(FILES ${completion} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
endfunction()
