#pragma once
// The message families convert() dispatches to (convert.cpp). Each maps the
// message in `ctx` to Bundle entries, reporting errors with ctx.fail() and
// what it could not map with ctx.warn() (mapping_detail.hpp).

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

/// ADT A01, A02, A03, A04, A05, A08, A11, A13, A28, A31 (adt.cpp).
void map_adt(context& ctx);
/// ADT A40 (merge.cpp): per PID/MRG pair the surviving Patient and a
/// Parameters entry for Patient/$merge; finish_merge() then sets those
/// entries' request url (context::bundle() POSTs a resource to its type).
void map_merge(context& ctx);
void finish_merge(json_value& bundle);
/// SIU S12, S13, S14, S15, S26 -> Appointment (siu.cpp); MDM T01, T02 -> DocumentReference (mdm.cpp).
void map_siu(context& ctx);
void map_mdm(context& ctx);
/// ORM^O01 and OML^O21 -> ServiceRequest (orders.cpp); VXU^V04 -> Immunization (vxu.cpp).
void map_orders(context& ctx);
void map_vxu(context& ctx);
/// ORU^R01 -> DiagnosticReport, Observation, Specimen (oru.cpp).
void map_oru(context& ctx);

}  // namespace hearth::mapping::detail
