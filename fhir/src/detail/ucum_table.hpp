#pragma once
// The UCUM terminal symbols: prefixes and unit atoms, as the case-sensitive
// columns of ucum-essence.xml, UCUM version 2.1 (revision 442, 2017-11-21),
// https://ucum.org/ucum-essence.xml — every atom of that file, in its order.
//
// Each atom keeps its definition as the file states it: a decimal value and a
// UCUM expression ("[ft_i]" = 12 "[in_i]"). ucum.cpp resolves the definitions
// once, by parsing those expressions with the same parser as user input, so
// the numbers here are the essence's own text and nothing was computed by hand.
// Private to ucum.cpp. Immutable data: no thread-safety concerns.

#include <array>
#include <cstdint>
#include <string_view>

namespace hearth::fhir::ucum::detail {

/// A prefix (essence <prefix>): its code and value as 10^exp10 or, for the
/// binary prefixes of information technology, 2^exp2.
struct prefix_row {
  std::string_view code;
  int exp10 = 0;
  int exp2 = 0;
};

inline constexpr std::array<prefix_row, 24> prefix_rows{{
    {"Y", 24, 0},  {"Z", 21, 0},  {"E", 18, 0},  {"P", 15, 0},  {"T", 12, 0},   {"G", 9, 0},
    {"M", 6, 0},   {"k", 3, 0},   {"h", 2, 0},   {"da", 1, 0},  {"d", -1, 0},   {"c", -2, 0},
    {"m", -3, 0},  {"u", -6, 0},  {"n", -9, 0},  {"p", -12, 0}, {"f", -15, 0},  {"a", -18, 0},
    {"z", -21, 0}, {"y", -24, 0}, {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30},  {"Ti", 0, 40},
}};

/// What an atom is (UCUM §§20–26).
enum class atom_kind : std::uint8_t {
  base,       ///< one of the seven base units (essence <base-unit>)
  proper,     ///< value × unit, on a ratio scale
  pi,         ///< the number π ("[pi]"), kept symbolic so that it can cancel
  arbitrary,  ///< isArbitrary="yes" (§24): commensurable with nothing else
  special,    ///< isSpecial="yes" (§21): a function of its proper unit
};

/// The function of a special unit (essence <function name=...>), by what
/// this library does with it.
enum class special_function : std::uint8_t {
  none,
  celsius,     ///< Cel: K = °C + 273.15
  fahrenheit,  ///< degF: K = (°F + 459.67) × 5/9
  reaumur,     ///< degRe: K = °Ré × 5/4 + 273.15
  other,       ///< logarithmic, tangent, square root, homeopathic: not converted
};

/// One atom: essence <unit Code= isMetric=> with <value value= Unit=>. For a
/// special unit, value and unit are the function's argument: the
/// corresponding proper unit (§21.2). For a base unit, `base` is its index.
struct atom_row {
  std::string_view code;
  bool metric = false;
  atom_kind kind = atom_kind::proper;
  std::string_view value;  ///< decimal text, as in the essence ("254e-2")
  std::string_view unit;   ///< case-sensitive UCUM expression ("cm")
  special_function function = special_function::none;
  int base = -1;
};

using ak = atom_kind;
using sf = special_function;

// Base units first, in the essence's order, which is also the order of the
// dimension vector: m, s, g, rad, K, C, cd.
inline constexpr atom_row atom_rows[] = {
    {"m", true, ak::base, "", "", sf::none, 0},
    {"s", true, ak::base, "", "", sf::none, 1},
    {"g", true, ak::base, "", "", sf::none, 2},
    {"rad", true, ak::base, "", "", sf::none, 3},
    {"K", true, ak::base, "", "", sf::none, 4},
    {"C", true, ak::base, "", "", sf::none, 5},
    {"cd", true, ak::base, "", "", sf::none, 6},
    // dimless
    {"10*", false, ak::proper, "10", "1"},
    {"10^", false, ak::proper, "10", "1"},
    {"[pi]", false, ak::pi, "1", "1"},
    {"%", false, ak::proper, "1", "10*-2"},
    {"[ppth]", false, ak::proper, "1", "10*-3"},
    {"[ppm]", false, ak::proper, "1", "10*-6"},
    {"[ppb]", false, ak::proper, "1", "10*-9"},
    {"[pptr]", false, ak::proper, "1", "10*-12"},
    // si
    {"mol", true, ak::proper, "6.0221367", "10*23"},
    {"sr", true, ak::proper, "1", "rad2"},
    {"Hz", true, ak::proper, "1", "s-1"},
    {"N", true, ak::proper, "1", "kg.m/s2"},
    {"Pa", true, ak::proper, "1", "N/m2"},
    {"J", true, ak::proper, "1", "N.m"},
    {"W", true, ak::proper, "1", "J/s"},
    {"A", true, ak::proper, "1", "C/s"},
    {"V", true, ak::proper, "1", "J/C"},
    {"F", true, ak::proper, "1", "C/V"},
    {"Ohm", true, ak::proper, "1", "V/A"},
    {"S", true, ak::proper, "1", "Ohm-1"},
    {"Wb", true, ak::proper, "1", "V.s"},
    {"Cel", true, ak::special, "1", "K", sf::celsius},
    {"T", true, ak::proper, "1", "Wb/m2"},
    {"H", true, ak::proper, "1", "Wb/A"},
    {"lm", true, ak::proper, "1", "cd.sr"},
    {"lx", true, ak::proper, "1", "lm/m2"},
    {"Bq", true, ak::proper, "1", "s-1"},
    {"Gy", true, ak::proper, "1", "J/kg"},
    {"Sv", true, ak::proper, "1", "J/kg"},
    // iso1000
    {"gon", false, ak::proper, "0.9", "deg"},
    {"deg", false, ak::proper, "2", "[pi].rad/360"},
    {"'", false, ak::proper, "1", "deg/60"},
    {"''", false, ak::proper, "1", "'/60"},
    {"l", true, ak::proper, "1", "dm3"},
    {"L", true, ak::proper, "1", "l"},
    {"ar", true, ak::proper, "100", "m2"},
    {"min", false, ak::proper, "60", "s"},
    {"h", false, ak::proper, "60", "min"},
    {"d", false, ak::proper, "24", "h"},
    {"a_t", false, ak::proper, "365.24219", "d"},
    {"a_j", false, ak::proper, "365.25", "d"},
    {"a_g", false, ak::proper, "365.2425", "d"},
    {"a", false, ak::proper, "1", "a_j"},
    {"wk", false, ak::proper, "7", "d"},
    {"mo_s", false, ak::proper, "29.53059", "d"},
    {"mo_j", false, ak::proper, "1", "a_j/12"},
    {"mo_g", false, ak::proper, "1", "a_g/12"},
    {"mo", false, ak::proper, "1", "mo_j"},
    {"t", true, ak::proper, "1e3", "kg"},
    {"bar", true, ak::proper, "1e5", "Pa"},
    {"u", true, ak::proper, "1.6605402e-24", "g"},
    {"eV", true, ak::proper, "1", "[e].V"},
    {"AU", false, ak::proper, "149597.870691", "Mm"},
    {"pc", true, ak::proper, "3.085678e16", "m"},
    // const
    {"[c]", true, ak::proper, "299792458", "m/s"},
    {"[h]", true, ak::proper, "6.6260755e-34", "J.s"},
    {"[k]", true, ak::proper, "1.380658e-23", "J/K"},
    {"[eps_0]", true, ak::proper, "8.854187817e-12", "F/m"},
    {"[mu_0]", true, ak::proper, "1", "4.[pi].10*-7.N/A2"},
    {"[e]", true, ak::proper, "1.60217733e-19", "C"},
    {"[m_e]", true, ak::proper, "9.1093897e-28", "g"},
    {"[m_p]", true, ak::proper, "1.6726231e-24", "g"},
    {"[G]", true, ak::proper, "6.67259e-11", "m3.kg-1.s-2"},
    {"[g]", true, ak::proper, "980665e-5", "m/s2"},
    {"atm", false, ak::proper, "101325", "Pa"},
    {"[ly]", true, ak::proper, "1", "[c].a_j"},
    {"gf", true, ak::proper, "1", "g.[g]"},
    {"[lbf_av]", false, ak::proper, "1", "[lb_av].[g]"},
    // cgs
    {"Ky", true, ak::proper, "1", "cm-1"},
    {"Gal", true, ak::proper, "1", "cm/s2"},
    {"dyn", true, ak::proper, "1", "g.cm/s2"},
    {"erg", true, ak::proper, "1", "dyn.cm"},
    {"P", true, ak::proper, "1", "dyn.s/cm2"},
    {"Bi", true, ak::proper, "10", "A"},
    {"St", true, ak::proper, "1", "cm2/s"},
    {"Mx", true, ak::proper, "1e-8", "Wb"},
    {"G", true, ak::proper, "1e-4", "T"},
    {"Oe", true, ak::proper, "250", "/[pi].A/m"},
    {"Gb", true, ak::proper, "1", "Oe.cm"},
    {"sb", true, ak::proper, "1", "cd/cm2"},
    {"Lmb", true, ak::proper, "1", "cd/cm2/[pi]"},
    {"ph", true, ak::proper, "1e-4", "lx"},
    {"Ci", true, ak::proper, "37e9", "Bq"},
    {"R", true, ak::proper, "2.58e-4", "C/kg"},
    {"RAD", true, ak::proper, "100", "erg/g"},
    {"REM", true, ak::proper, "1", "RAD"},
    // intcust
    {"[in_i]", false, ak::proper, "254e-2", "cm"},
    {"[ft_i]", false, ak::proper, "12", "[in_i]"},
    {"[yd_i]", false, ak::proper, "3", "[ft_i]"},
    {"[mi_i]", false, ak::proper, "5280", "[ft_i]"},
    {"[fth_i]", false, ak::proper, "6", "[ft_i]"},
    {"[nmi_i]", false, ak::proper, "1852", "m"},
    {"[kn_i]", false, ak::proper, "1", "[nmi_i]/h"},
    {"[sin_i]", false, ak::proper, "1", "[in_i]2"},
    {"[sft_i]", false, ak::proper, "1", "[ft_i]2"},
    {"[syd_i]", false, ak::proper, "1", "[yd_i]2"},
    {"[cin_i]", false, ak::proper, "1", "[in_i]3"},
    {"[cft_i]", false, ak::proper, "1", "[ft_i]3"},
    {"[cyd_i]", false, ak::proper, "1", "[yd_i]3"},
    {"[bf_i]", false, ak::proper, "144", "[in_i]3"},
    {"[cr_i]", false, ak::proper, "128", "[ft_i]3"},
    {"[mil_i]", false, ak::proper, "1e-3", "[in_i]"},
    {"[cml_i]", false, ak::proper, "1", "[pi]/4.[mil_i]2"},
    {"[hd_i]", false, ak::proper, "4", "[in_i]"},
    // us-lengths
    {"[ft_us]", false, ak::proper, "1200", "m/3937"},
    {"[yd_us]", false, ak::proper, "3", "[ft_us]"},
    {"[in_us]", false, ak::proper, "1", "[ft_us]/12"},
    {"[rd_us]", false, ak::proper, "16.5", "[ft_us]"},
    {"[ch_us]", false, ak::proper, "4", "[rd_us]"},
    {"[lk_us]", false, ak::proper, "1", "[ch_us]/100"},
    {"[rch_us]", false, ak::proper, "100", "[ft_us]"},
    {"[rlk_us]", false, ak::proper, "1", "[rch_us]/100"},
    {"[fth_us]", false, ak::proper, "6", "[ft_us]"},
    {"[fur_us]", false, ak::proper, "40", "[rd_us]"},
    {"[mi_us]", false, ak::proper, "8", "[fur_us]"},
    {"[acr_us]", false, ak::proper, "160", "[rd_us]2"},
    {"[srd_us]", false, ak::proper, "1", "[rd_us]2"},
    {"[smi_us]", false, ak::proper, "1", "[mi_us]2"},
    {"[sct]", false, ak::proper, "1", "[mi_us]2"},
    {"[twp]", false, ak::proper, "36", "[sct]"},
    {"[mil_us]", false, ak::proper, "1e-3", "[in_us]"},
    // brit-length
    {"[in_br]", false, ak::proper, "2.539998", "cm"},
    {"[ft_br]", false, ak::proper, "12", "[in_br]"},
    {"[rd_br]", false, ak::proper, "16.5", "[ft_br]"},
    {"[ch_br]", false, ak::proper, "4", "[rd_br]"},
    {"[lk_br]", false, ak::proper, "1", "[ch_br]/100"},
    {"[fth_br]", false, ak::proper, "6", "[ft_br]"},
    {"[pc_br]", false, ak::proper, "2.5", "[ft_br]"},
    {"[yd_br]", false, ak::proper, "3", "[ft_br]"},
    {"[mi_br]", false, ak::proper, "5280", "[ft_br]"},
    {"[nmi_br]", false, ak::proper, "6080", "[ft_br]"},
    {"[kn_br]", false, ak::proper, "1", "[nmi_br]/h"},
    {"[acr_br]", false, ak::proper, "4840", "[yd_br]2"},
    // us-volumes
    {"[gal_us]", false, ak::proper, "231", "[in_i]3"},
    {"[bbl_us]", false, ak::proper, "42", "[gal_us]"},
    {"[qt_us]", false, ak::proper, "1", "[gal_us]/4"},
    {"[pt_us]", false, ak::proper, "1", "[qt_us]/2"},
    {"[gil_us]", false, ak::proper, "1", "[pt_us]/4"},
    {"[foz_us]", false, ak::proper, "1", "[gil_us]/4"},
    {"[fdr_us]", false, ak::proper, "1", "[foz_us]/8"},
    {"[min_us]", false, ak::proper, "1", "[fdr_us]/60"},
    {"[crd_us]", false, ak::proper, "128", "[ft_i]3"},
    {"[bu_us]", false, ak::proper, "2150.42", "[in_i]3"},
    {"[gal_wi]", false, ak::proper, "1", "[bu_us]/8"},
    {"[pk_us]", false, ak::proper, "1", "[bu_us]/4"},
    {"[dqt_us]", false, ak::proper, "1", "[pk_us]/8"},
    {"[dpt_us]", false, ak::proper, "1", "[dqt_us]/2"},
    {"[tbs_us]", false, ak::proper, "1", "[foz_us]/2"},
    {"[tsp_us]", false, ak::proper, "1", "[tbs_us]/3"},
    {"[cup_us]", false, ak::proper, "16", "[tbs_us]"},
    {"[foz_m]", false, ak::proper, "30", "mL"},
    {"[cup_m]", false, ak::proper, "240", "mL"},
    {"[tsp_m]", false, ak::proper, "5", "mL"},
    {"[tbs_m]", false, ak::proper, "15", "mL"},
    // brit-volumes
    {"[gal_br]", false, ak::proper, "4.54609", "l"},
    {"[pk_br]", false, ak::proper, "2", "[gal_br]"},
    {"[bu_br]", false, ak::proper, "4", "[pk_br]"},
    {"[qt_br]", false, ak::proper, "1", "[gal_br]/4"},
    {"[pt_br]", false, ak::proper, "1", "[qt_br]/2"},
    {"[gil_br]", false, ak::proper, "1", "[pt_br]/4"},
    {"[foz_br]", false, ak::proper, "1", "[gil_br]/5"},
    {"[fdr_br]", false, ak::proper, "1", "[foz_br]/8"},
    {"[min_br]", false, ak::proper, "1", "[fdr_br]/60"},
    // avoirdupois, troy, apothecaries'
    {"[gr]", false, ak::proper, "64.79891", "mg"},
    {"[lb_av]", false, ak::proper, "7000", "[gr]"},
    {"[oz_av]", false, ak::proper, "1", "[lb_av]/16"},
    {"[dr_av]", false, ak::proper, "1", "[oz_av]/16"},
    {"[scwt_av]", false, ak::proper, "100", "[lb_av]"},
    {"[lcwt_av]", false, ak::proper, "112", "[lb_av]"},
    {"[ston_av]", false, ak::proper, "20", "[scwt_av]"},
    {"[lton_av]", false, ak::proper, "20", "[lcwt_av]"},
    {"[stone_av]", false, ak::proper, "14", "[lb_av]"},
    {"[pwt_tr]", false, ak::proper, "24", "[gr]"},
    {"[oz_tr]", false, ak::proper, "20", "[pwt_tr]"},
    {"[lb_tr]", false, ak::proper, "12", "[oz_tr]"},
    {"[sc_ap]", false, ak::proper, "20", "[gr]"},
    {"[dr_ap]", false, ak::proper, "3", "[sc_ap]"},
    {"[oz_ap]", false, ak::proper, "8", "[dr_ap]"},
    {"[lb_ap]", false, ak::proper, "12", "[oz_ap]"},
    {"[oz_m]", false, ak::proper, "28", "g"},
    // typeset
    {"[lne]", false, ak::proper, "1", "[in_i]/12"},
    {"[pnt]", false, ak::proper, "1", "[lne]/6"},
    {"[pca]", false, ak::proper, "12", "[pnt]"},
    {"[pnt_pr]", false, ak::proper, "0.013837", "[in_i]"},
    {"[pca_pr]", false, ak::proper, "12", "[pnt_pr]"},
    {"[pied]", false, ak::proper, "32.48", "cm"},
    {"[pouce]", false, ak::proper, "1", "[pied]/12"},
    {"[ligne]", false, ak::proper, "1", "[pouce]/12"},
    {"[didot]", false, ak::proper, "1", "[ligne]/6"},
    {"[cicero]", false, ak::proper, "12", "[didot]"},
    // heat
    {"[degF]", false, ak::special, "5", "K/9", sf::fahrenheit},
    {"[degR]", false, ak::proper, "5", "K/9"},
    {"[degRe]", false, ak::special, "5", "K/4", sf::reaumur},
    {"cal_[15]", true, ak::proper, "4.18580", "J"},
    {"cal_[20]", true, ak::proper, "4.18190", "J"},
    {"cal_m", true, ak::proper, "4.19002", "J"},
    {"cal_IT", true, ak::proper, "4.1868", "J"},
    {"cal_th", true, ak::proper, "4.184", "J"},
    {"cal", true, ak::proper, "1", "cal_th"},
    {"[Cal]", false, ak::proper, "1", "kcal_th"},
    {"[Btu_39]", false, ak::proper, "1.05967", "kJ"},
    {"[Btu_59]", false, ak::proper, "1.05480", "kJ"},
    {"[Btu_60]", false, ak::proper, "1.05468", "kJ"},
    {"[Btu_m]", false, ak::proper, "1.05587", "kJ"},
    {"[Btu_IT]", false, ak::proper, "1.05505585262", "kJ"},
    {"[Btu_th]", false, ak::proper, "1.054350", "kJ"},
    {"[Btu]", false, ak::proper, "1", "[Btu_th]"},
    {"[HP]", false, ak::proper, "550", "[ft_i].[lbf_av]/s"},
    {"tex", true, ak::proper, "1", "g/km"},
    {"[den]", false, ak::proper, "1", "g/9/km"},
    // clinical
    {"m[H2O]", true, ak::proper, "980665e-5", "kPa"},
    {"m[Hg]", true, ak::proper, "133.3220", "kPa"},
    {"[in_i'H2O]", false, ak::proper, "1", "m[H2O].[in_i]/m"},
    {"[in_i'Hg]", false, ak::proper, "1", "m[Hg].[in_i]/m"},
    {"[PRU]", false, ak::proper, "1", "mm[Hg].s/ml"},
    {"[wood'U]", false, ak::proper, "1", "mm[Hg].min/L"},
    {"[diop]", false, ak::proper, "1", "/m"},
    {"[p'diop]", false, ak::special, "1", "rad", sf::other},
    {"%[slope]", false, ak::special, "1", "deg", sf::other},
    {"[mesh_i]", false, ak::proper, "1", "/[in_i]"},
    {"[Ch]", false, ak::proper, "1", "mm/3"},
    {"[drp]", false, ak::proper, "1", "ml/20"},
    {"[hnsf'U]", false, ak::proper, "1", "1"},
    {"[MET]", false, ak::proper, "3.5", "mL/min/kg"},
    {"[hp'_X]", false, ak::special, "1", "1", sf::other},
    {"[hp'_C]", false, ak::special, "1", "1", sf::other},
    {"[hp'_M]", false, ak::special, "1", "1", sf::other},
    {"[hp'_Q]", false, ak::special, "1", "1", sf::other},
    {"[hp_X]", false, ak::arbitrary, "1", "1"},
    {"[hp_C]", false, ak::arbitrary, "1", "1"},
    {"[hp_M]", false, ak::arbitrary, "1", "1"},
    {"[hp_Q]", false, ak::arbitrary, "1", "1"},
    {"[kp_X]", false, ak::arbitrary, "1", "1"},
    {"[kp_C]", false, ak::arbitrary, "1", "1"},
    {"[kp_M]", false, ak::arbitrary, "1", "1"},
    {"[kp_Q]", false, ak::arbitrary, "1", "1"},
    // chemical
    {"eq", true, ak::proper, "1", "mol"},
    {"osm", true, ak::proper, "1", "mol"},
    {"[pH]", false, ak::special, "1", "mol/l", sf::other},
    {"g%", true, ak::proper, "1", "g/dl"},
    {"[S]", false, ak::proper, "1", "10*-13.s"},
    {"[HPF]", false, ak::proper, "1", "1"},
    {"[LPF]", false, ak::proper, "100", "1"},
    {"kat", true, ak::proper, "1", "mol/s"},
    {"U", true, ak::proper, "1", "umol/min"},
    {"[iU]", true, ak::arbitrary, "1", "1"},
    {"[IU]", true, ak::arbitrary, "1", "[iU]"},
    {"[arb'U]", false, ak::arbitrary, "1", "1"},
    {"[USP'U]", false, ak::arbitrary, "1", "1"},
    {"[GPL'U]", false, ak::arbitrary, "1", "1"},
    {"[MPL'U]", false, ak::arbitrary, "1", "1"},
    {"[APL'U]", false, ak::arbitrary, "1", "1"},
    {"[beth'U]", false, ak::arbitrary, "1", "1"},
    {"[anti'Xa'U]", false, ak::arbitrary, "1", "1"},
    {"[todd'U]", false, ak::arbitrary, "1", "1"},
    {"[dye'U]", false, ak::arbitrary, "1", "1"},
    {"[smgy'U]", false, ak::arbitrary, "1", "1"},
    {"[bdsk'U]", false, ak::arbitrary, "1", "1"},
    {"[ka'U]", false, ak::arbitrary, "1", "1"},
    {"[knk'U]", false, ak::arbitrary, "1", "1"},
    {"[mclg'U]", false, ak::arbitrary, "1", "1"},
    {"[tb'U]", false, ak::arbitrary, "1", "1"},
    {"[CCID_50]", false, ak::arbitrary, "1", "1"},
    {"[TCID_50]", false, ak::arbitrary, "1", "1"},
    {"[EID_50]", false, ak::arbitrary, "1", "1"},
    {"[PFU]", false, ak::arbitrary, "1", "1"},
    {"[FFU]", false, ak::arbitrary, "1", "1"},
    {"[CFU]", false, ak::arbitrary, "1", "1"},
    {"[IR]", false, ak::arbitrary, "1", "1"},
    {"[BAU]", false, ak::arbitrary, "1", "1"},
    {"[AU]", false, ak::arbitrary, "1", "1"},
    {"[Amb'a'1'U]", false, ak::arbitrary, "1", "1"},
    {"[PNU]", false, ak::arbitrary, "1", "1"},
    {"[Lf]", false, ak::arbitrary, "1", "1"},
    {"[D'ag'U]", false, ak::arbitrary, "1", "1"},
    {"[FEU]", false, ak::arbitrary, "1", "1"},
    {"[ELU]", false, ak::arbitrary, "1", "1"},
    {"[EU]", false, ak::arbitrary, "1", "1"},
    // levels
    {"Np", true, ak::special, "1", "1", sf::other},
    {"B", true, ak::special, "1", "1", sf::other},
    {"B[SPL]", true, ak::special, "2", "10*-5.Pa", sf::other},
    {"B[V]", true, ak::special, "1", "V", sf::other},
    {"B[mV]", true, ak::special, "1", "mV", sf::other},
    {"B[uV]", true, ak::special, "1", "uV", sf::other},
    {"B[10.nV]", true, ak::special, "10", "nV", sf::other},
    {"B[W]", true, ak::special, "1", "W", sf::other},
    {"B[kW]", true, ak::special, "1", "kW", sf::other},
    // misc
    {"st", true, ak::proper, "1", "m3"},
    {"Ao", false, ak::proper, "0.1", "nm"},
    {"b", false, ak::proper, "100", "fm2"},
    {"att", false, ak::proper, "1", "kgf/cm2"},
    {"mho", true, ak::proper, "1", "S"},
    {"[psi]", false, ak::proper, "1", "[lbf_av]/[in_i]2"},
    {"circ", false, ak::proper, "2", "[pi].rad"},
    {"sph", false, ak::proper, "4", "[pi].sr"},
    {"[car_m]", false, ak::proper, "2e-1", "g"},
    {"[car_Au]", false, ak::proper, "1", "/24"},
    {"[smoot]", false, ak::proper, "67", "[in_i]"},
    {"[m/s2/Hz^(1/2)]", false, ak::special, "1", "m2/s4/Hz", sf::other},
    // infotech
    {"bit_s", false, ak::special, "1", "1", sf::other},
    {"bit", true, ak::proper, "1", "1"},
    {"By", true, ak::proper, "8", "bit"},
    {"Bd", true, ak::proper, "1", "/s"},
};

}  // namespace hearth::fhir::ucum::detail
