"""The teaching services, on a finished :class:`~cnngrad.network.Trace`: ``explain`` (one
number taken apart), ``steps`` (the textbook's intermediate matrices), ``gradcheck`` (finite
differences and kinks), ``check`` and ``diagnose`` (a hand computation graded, its slips
named).  Each asks the layer registry (:mod:`cnngrad.families`) for what a layer type adds."""
