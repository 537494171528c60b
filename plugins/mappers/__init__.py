"""Subject-mapping functions, one plugin module per function family.

Each module implements ``register_mapping_functions`` and registers objects that follow
:class:`natskern.kernel.subjects.transform.MappingFunction`; the kernel compiles every mapping
once (:func:`natskern.kernel.subjects.transform.compile_mapping`) and only the compiled ops run
per message.  ``natskern.defaults.MAPPER_PLUGINS`` lists the modules.
"""
